"""A spec loaded from Python: `ebmspec.load(path, profile=, set=)` -> `Model`, and `Model.fit`.

In: a `.ebm` file, optionally a profile and settings (`{"train.iterations": 50}` or `["key=value",
...]`, each checked like `--set`). Out: a `Model` holding the checked program; `fit(folder)`
trains it through the library code `ebmspec train` runs (`api.training`) into a run folder that
the CLI reads (run.json, spec.ebm, checkpoints, energy and best weights, metrics; `runs/latest`
when the folder is under `runs/`), and returns the trained `Run`. Mistakes raise the located
`UserError` the CLI prints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from ebmspec import ir
from ebmspec.api import compile_spec, read_source
from ebmspec.api.display import domain, html_table, variables_text
from ebmspec.diagnostics import argument_error
from ebmspec.source import Source


def _setting_text(value) -> str:
    """A Python value as the text of a `--set` value: names and calls pass as written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_setting_text(v) for v in value) + "]"
    return value if isinstance(value, str) else repr(value)


def settings_of(given: Mapping[str, object] | Sequence[str] | None) -> list[str]:
    """`{"train.iterations": 50}` or `["train.iterations=50"]` -> `["train.iterations=50"]`."""
    if given is None:
        return []
    if isinstance(given, Mapping):
        return [f"{key}={_setting_text(value)}" for key, value in given.items()]
    if isinstance(given, str):
        return [given]
    return list(given)


def load(
    spec: str | Path,
    profile: str | None = None,
    set: Mapping[str, object] | Sequence[str] | None = None,  # named as the CLI's --set
) -> Model:
    """Load and check the spec file `spec`, with `profile` (one of the spec's `profile` blocks)
    and `set` applied in that order, as `ebmspec train SPEC --profile P --set KEY=VALUE` does.

    >>> model = ebmspec.load("specs/toy_joint.ebm", profile="smoke", set={"train.iterations": 50})
    """
    path = Path(spec)
    source = read_source(path)
    settings = settings_of(set)
    return Model(path, source, compile_spec(source, profile, settings), profile, settings)


class Model:
    """A checked spec: its `program` (`ebmspec.ir.Program`), `name`, `variables`, `profile` and
    `settings`. `fit` trains it into a run folder; `parameters` counts the energy's parameters."""

    def __init__(
        self,
        path: Path,
        source: Source,
        program: ir.Program,
        profile: str | None,
        settings: list[str],
    ):
        self.path, self.source, self.program = path, source, program
        self.profile, self.settings = profile, settings
        self._parameters: int | None = None

    @property
    def name(self) -> str:
        return self.program.name

    @property
    def variables(self) -> dict[str, ir.Variable]:
        return {v.name: v for v in self.program.variables}

    @property
    def parameters(self) -> int:
        """The number of trainable numbers of the energy (its torch module, built once)."""
        if self._parameters is None:
            from ebmspec.runtime.model.energy import lower_energy

            model = lower_energy(self.program, seed=0)
            self._parameters = sum(p.numel() for p in model.parameters() if p.requires_grad)
        return self._parameters

    def fit(
        self,
        path: str | Path | None = None,
        *,
        device: str | None = None,
        seed: int | None = None,
        progress: bool = False,
    ):
        """Train into the run folder `path` (default: `runs/NAME-TIME`, as `ebmspec train`) and
        return the trained `Run` (its EMA weights). `seed`: the run's `train.seed` (data split,
        parameters, chains); `device`: "cpu", "cuda", ... (default: cuda when available);
        `progress`: show a progress bar with the loss. A folder that already holds a run is
        E920; a run that diverges is E929 (its last good checkpoint stays in the folder)."""
        from ebmspec import runs
        from ebmspec.api import training
        from ebmspec.api.display import FitMonitor
        from ebmspec.api.run import load_run, resolve_device
        from ebmspec.runtime.training import distributed
        from ebmspec.runtime.training.trainer import TrainingDiverged

        where = resolve_device(device)
        settings, program = self.settings, self.program
        if seed is not None:  # as `ebmspec train --seed N`: one more setting, kept in run.json
            settings = [*settings, f"train.seed={int(seed)}"]
            program = compile_spec(self.source, self.profile, settings)
        folder = Path(path) if path is not None else None
        try:
            run_dir = training.start_run(
                self.path, self.source, program, folder, self.profile, settings, where
            )
        except runs.RunError as error:
            text = str(folder)
            raise argument_error(
                "path", text, error.code, error.message, 0, len(text), error.help
            ) from None
        under_runs = runs.RUNS.resolve() in (run_dir.resolve(), *run_dir.resolve().parents)
        monitor = FitMonitor(program.name, progress)
        try:
            training.train(
                program, self.source, run_dir, self.path.parent, where, monitor,
                latest=under_runs,
            )  # fmt: skip
        except (distributed.ShardingError, TrainingDiverged) as error:
            raise training.as_user_error(error, program, self.source, run_dir) from None
        finally:
            monitor.stop()
        return load_run(run_dir, device=where)

    def __repr__(self) -> str:
        profile = f", profile {self.profile}" if self.profile else ""
        return f"Model({self.name}: {variables_text(self.program)}{profile})"

    def _repr_html_(self) -> str:
        caption = f"model {self.name} ({self.path}" + (
            f", profile {self.profile})" if self.profile else ")"
        )
        rows = [(v.name, domain(v), "observed" if v.observed else "latent") for v in
                self.program.variables]  # fmt: skip
        rows.append(("parameters", f"{self.parameters:,}", ""))
        return html_table(caption, ("variable", "domain", ""), rows)
