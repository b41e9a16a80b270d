"""A trained run from Python: `ebmspec.load_run(folder)` -> `Run`; `sample` and `evaluate` it.

In: a run folder written by `ebmspec train` or `Model.fit` (runs.py's layout; default
`runs/latest`). Out: `Run`, holding the run's program, EMA energy model, data statistics and
fitted transforms (`runs.load_run`, as `ebmspec sample` / `eval` load them). `sample` runs the
spec's sampler with conditions given as Python values and returns decoded `Samples`; `evaluate`
returns the dict `ebmspec eval` computes (`api.evaluation`, the same function). Mistakes raise the
located `UserError` the CLI prints (E92x for the folder, E90x for a condition, E913 a sampler).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

from ebmspec import runs
from ebmspec.api.display import domain, html_table, sweep_bar, variables_text
from ebmspec.api.samples import Samples, block_report
from ebmspec.diagnostics import argument_error


def resolve_device(device: str | None) -> str:
    """None: cuda when available, else cpu; cuda on a machine without it is a located E928."""
    import torch

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        text = str(device)
        message = "CUDA is not available on this machine (this torch build or its drivers)"
        help = "use device='cpu', or a CUDA build of torch on a machine with a GPU"
        raise argument_error("device", text, "E928", message, 0, len(text), help)
    return str(device)


def load_run(path: str | Path | None = None, device: str | None = "cpu", best: bool = False):
    """The run in folder `path` (default: `runs/latest`), its EMA weights on `device` (None:
    cuda when available). `best`: the weights of its best evaluation (`best.safetensors`)."""
    where = resolve_device(device)
    try:
        folder = runs.latest_run() if path is None else Path(path)
        return Run(runs.load_run(folder, where, best=best), where)
    except runs.RunError as error:
        text = str(path) if path is not None else "runs/latest"
        raise argument_error(
            "path", text, error.code, error.message, 0, len(text), error.help
        ) from None


class Run:
    """A trained run: `path`, `program`, `name`, `variables`, `iteration` (of the weights
    loaded), `info` (run.json), `meta` (the checkpoint's), `model` (the EMA energy, a
    `torch.nn.Module`), `stats` (data statistics the samplers' inits read) and `transforms`
    (fitted data transforms per variable)."""

    def __init__(self, trained: runs.TrainedRun, device: str):
        self.trained, self.device = trained, device
        self.path, self.program, self.model = trained.path, trained.program, trained.model
        self.info, self.meta = trained.info, trained.meta
        self.stats, self.transforms = trained.stats, trained.pipelines

    @property
    def name(self) -> str:
        return self.program.name

    @property
    def variables(self) -> dict:
        return {v.name: v for v in self.program.variables}

    @property
    def iteration(self) -> int | None:
        return self.meta.get("iteration")

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def sample(
        self,
        n: int,
        condition: Mapping[str, object] | None = None,
        *,
        steps: int | None = None,
        seed: int = 0,
        sampler: str | None = None,
        progress: bool = False,
    ) -> Samples:
        """`n` chains of the spec's sampler (default: the one training used) run for `steps`
        sweeps (default: the sampler's `sweeps`), from `seed`. `condition`: `{variable: value}`
        clamps variables - an int or list of ints for a categorical or binary (category codes,
        0/1), a float, list, array or tensor for a real (in model space; one number broadcasts).
        Returns `Samples` decoded to data space."""
        from ebmspec.api.values import conditions as check
        from ebmspec.runtime.model.energy import variable_table
        from ebmspec.runtime.sampling.convergence import Trace
        from ebmspec.runtime.sampling.sampler import default_sampler
        from ebmspec.runtime.sampling.sampler import sample as run_chains

        program = self.program
        sampler = default_sampler(program) if sampler is None else self._sampler(sampler)
        clamped = check(program, condition)
        sweeps = program.sampler(sampler).sweeps if steps is None else int(steps)
        free = [v.name for v in program.variables if v.name not in clamped]
        trace = Trace(variable_table(program), free)
        advance, stop = sweep_bar(sweeps, progress)

        def callback(state) -> None:
            trace(state)
            if advance is not None:
                advance(state)

        start = time.perf_counter()
        try:
            state, _ = run_chains(
                program, self.model, int(n), sweeps=sweeps, seed=int(seed),
                condition={name: c.value for name, c in clamped.items()}, sampler=sampler,
                stats=self.stats, device=self.device, callback=callback,
            )  # fmt: skip
        finally:
            stop()
        convergence = trace.diagnostics()
        seconds = time.perf_counter() - start
        for row in convergence.values():
            row["ess_per_second"] = row["ess_bulk"] / seconds
        raw = {name: value.detach().cpu() for name, value in state.point.values.items()}
        given = {name: c.text.split("=", 1)[1] for name, c in clamped.items()}
        return Samples(
            program, raw, self.transforms, sampler=sampler, sweeps=sweeps, seed=int(seed),
            conditions=given, blocks=block_report(program, sampler, clamped, state),
            convergence=convergence, seconds=seconds,
        )  # fmt: skip

    def _sampler(self, name: str) -> str:
        from ebmspec.semantic.values import suggest

        known = [s.name for s in self.program.samplers]
        if name not in known:
            raise argument_error(
                "sampler", name, "E913", f"unknown sampler `{name}`{suggest(name, known)}",
                0, len(name), f"the samplers of `{self.name}` are: {', '.join(known)}",
            )  # fmt: skip
        return name

    def evaluate(
        self,
        limit: int | None = None,
        seed: int | None = None,
        images: bool = False,
        ais: str | None = None,
    ):
        """The spec's `evaluate` block on this run's weights: the dict `ebmspec eval` computes
        (accuracies, calibration, per-attribute numbers, generation and OOD reports, the
        iteration evaluated). `limit`: the first `limit` test examples; `seed`: the chains'
        seed (default: the training seed; the test split stays the run's); `images`: also draw
        the figures into the run folder (their paths under "images"); `ais`: also estimate log Z
        and the test log-likelihood by annealed importance sampling ("" for the spec's or the
        default settings, or "temperatures=500,runs=5"; see `ebmspec eval --ais`)."""
        from ebmspec.api.evaluation import evaluate_run

        return evaluate_run(self.trained, self.device, limit, seed, images, ais=ais)

    def __repr__(self) -> str:
        return (
            f"Run({self.name} at {self.path}: {variables_text(self.program)}; "
            f"iteration {self.iteration})"
        )

    def _repr_html_(self) -> str:
        planned = self.meta.get("iterations")
        caption = f"run {self.name} at {self.path}: iteration {self.iteration} of {planned}"
        rows = [(v.name, domain(v), "observed" if v.observed else "latent") for v in
                self.program.variables]  # fmt: skip
        rows.append(("parameters", f"{self.parameters:,}", ""))
        rows.append(("profile", str(self.info.get("profile")), ""))
        return html_table(caption, ("variable", "domain", ""), rows)
