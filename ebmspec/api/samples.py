"""A set of samples as Python sees it: decoded values, the model-space ones, how the chains went.

In: a program, the final chain values in model space (`{name: tensor}`, on the CPU), the fitted
transforms of its run, the sampler's per-block acceptance and the convergence diagnostics. Out:
`Samples`, read like a table of columns (as a pandas DataFrame): `samples["x"]` is the tensor
[chains, *shape] of variable `x` in data space, iteration gives the variable names and `len()` the
number of chains. `block_report` is the acceptance table `ebmspec sample` prints too.
"""

from __future__ import annotations

import torch

from ebmspec import ir
from ebmspec.api.display import domain, html_table
from ebmspec.api.values import decode, unknown


def block_report(program: ir.Program, sampler: str, conditions, state) -> list[tuple]:
    """(label, kernel, variables, acceptance, moves per step) per block that ran, in order."""
    from ebmspec.runtime.model.energy import variable_table
    from ebmspec.runtime.sampling.sampler import sampler_table
    from ebmspec.runtime.sampling.schedule import acceptance, running_blocks

    rows = sampler_table(program.sampler(sampler))["blocks"]
    running = [
        (f"block {index}", kernel, ", ".join(free))
        for index, kernel, _, free, _, _ in running_blocks(
            rows, variable_table(program), set(conditions)
        )
    ]
    if not running:
        return []
    rates = torch.stack([acceptance(k) for k in state.kernels]).tolist()
    moves = torch.stack([k.hops.mean() / max(k.steps, 1) for k in state.kernels]).tolist()
    return [(*row, rate, move) for row, rate, move in zip(running, rates, moves, strict=True)]


class Samples:
    """Samples of every variable of a model, decoded to data space.

    `samples[name]`: a tensor [chains, *shape] - categoricals as integer codes, binaries as 0/1
    integers, reals in data space (the run's fitted transforms inverted); a clamped variable
    holds its condition. `list(samples)` / `samples.keys()`: the variable names; `len(samples)`:
    the number of chains. `.numpy()`: the same as NumPy arrays. `.raw`: the model-space values
    the energy saw (one-hot categoricals, transformed reals). `.acceptance`: the acceptance rate
    per sampler block; `.blocks`: (block, kernel, variables, acceptance, moves per step) rows;
    `.convergence`: `{variable: {"rhat", "ess_bulk", "ess_per_second", ...}}`, the diagnostics
    `ebmspec sample` prints, over the sweeps after warm-up (empty when there are too few).
    """

    def __init__(
        self,
        program: ir.Program,
        raw: dict[str, torch.Tensor],
        transforms: dict | None,
        *,
        sampler: str,
        sweeps: int,
        seed: int,
        conditions: dict,
        blocks: list[tuple],
        convergence: dict,
        seconds: float,
    ):
        self.program = program
        self.raw = raw
        transforms = transforms or {}
        self._values = {
            v.name: decode(v, raw[v.name], transforms.get(v.name)) for v in program.variables
        }
        self.sampler, self.sweeps, self.seed = sampler, sweeps, seed
        self.conditions = conditions  # {name: the value as given}
        self.blocks = blocks
        self.acceptance = {f"{b[1]}({b[2]})": b[3] for b in blocks}
        self.convergence = convergence
        self.seconds = seconds

    def __getitem__(self, name: str) -> torch.Tensor:
        if name not in self._values:
            raise KeyError(unknown(name, self._values))
        return self._values[name]

    def __iter__(self):
        return iter(self._values)

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def __len__(self) -> int:
        return next(iter(self._values.values())).shape[0]

    def keys(self):
        return self._values.keys()

    def values(self):
        return self._values.values()

    def items(self):
        return self._values.items()

    def numpy(self) -> dict:
        """`{name: numpy.ndarray}` of the decoded values."""
        return {name: value.numpy() for name, value in self._values.items()}

    def _variable_text(self, v: ir.Variable) -> str:
        return f"{v.name} {domain(v)}" + (" clamped" if v.name in self.conditions else "")

    def __repr__(self) -> str:
        names = ", ".join(self._variable_text(v) for v in self.program.variables)
        return f"Samples({len(self)} chains: {names}; sampler {self.sampler}, {self.sweeps} sweeps)"

    def _repr_html_(self) -> str:
        rows = []
        for v in self.program.variables:
            value = self._values[v.name]
            if v.name in self.conditions:
                summary = f"clamped to {self.conditions[v.name]}"
            elif v.kind == "real":
                flat = value.reshape(len(value), -1).double()
                summary = f"mean {flat.mean():.3g}, std {flat.std(correction=0):.3g}"
            else:
                codes = value.reshape(-1)
                mode = torch.bincount(codes).argmax().item()
                summary = f"most frequent value {mode}"
            row = self.convergence.get(v.name)
            rhat = f"{row['rhat']:.3f}" if row else ""
            rows.append((v.name, domain(v), summary, rhat))
        caption = (
            f"{len(self)} chains x {self.sweeps} sweeps of sampler {self.sampler} "
            f"(seed {self.seed}); acceptance "
            + (", ".join(f"{k} {r:.2f}" for k, r in self.acceptance.items()) or "none")
        )
        return html_table(caption, ("variable", "domain", "samples", "split R-hat"), rows)
