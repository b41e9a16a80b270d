"""Negative chains and imputed labels: where an objective's samples of the model come from.

In: the energy module, the sampler table (as `runtime.sampling.sampler.sampler_table` builds
it), the variable table and model-space data batches. Out: `Negatives` (a replay buffer of *all*
variables for `pcd`/`jem`, fresh short-run chains for `cd`) and `impute` (paper 004, Eq. 8:
missing attributes, and latent variables, drawn by a clamped chain on p(y_miss | x, y_obs)).

Every random number comes from the explicit generator the trainer passes in, so a run resumed
from a checkpoint (buffer + generator states) continues bit for bit.
"""

from __future__ import annotations

import torch

from ebmspec.runtime.model.enumeration import MarginalEnergy
from ebmspec.runtime.sampling.capture import CapturedSweep
from ebmspec.runtime.sampling.kernels.base import Target
from ebmspec.runtime.sampling.schedule import (
    acceptance,
    build_schedule,
    initial_values,
    run_conditioned,
    run_tempered,
)
from ebmspec.runtime.sampling.tempering import replicate


class Negatives:
    """Negative chains of one objective.

    persistent=True (pcd, jem): a buffer of `size` chains of every variable; each iteration
    draws `batch` distinct slots, re-initialises each with probability `reinit`, runs `steps`
    sweeps and writes x *and* y back (docs/design/ALGORITHMS.md 2.3 - the reference code lost y).
    persistent=False (cd): `batch` fresh chains from the init distributions every iteration.
    kept: variables the chains keep as drawn from their init distribution (no block moves them):
    with the labels kept, the chains sample p(x | y) for labels drawn from q0.
    capture: a torch.compile mode to run the sweeps as graphs in (runtime/sampling/capture.py;
    compiled on the first draw and reused), None for the eager loop. A sampler with
    `temperatures` runs parallel tempering instead (runtime/sampling/tempering.py), eagerly;
    persistent chains keep their replicas at b < 1 in `hot` (slot-aligned with the buffer, one
    block of `size` rows per hot temperature), so the hot replicas' mixing carries over from
    one iteration to the next. They start as copies of the b = 1 buffer (no extra draws).
    collapsed: discrete variables the chains sum out exactly (passes/collapse.py): the blocks
    that move only them do not run, the others sample on log sum_labels exp f, and the buffer
    and the draws hold the other variables only.
    """

    def __init__(
        self,
        sampler: dict,
        variables: dict,
        steps: int,
        persistent: bool,
        size: int = 0,
        reinit: float = 0.0,
        kept=(),
        capture: str | None = None,
        collapsed=(),
    ):
        self.sampler = sampler
        self.variables = variables
        self.steps = steps
        self.persistent = persistent
        self.size = size
        self.reinit = reinit
        self.kept = frozenset(kept)
        self.collapsed = tuple(collapsed)
        self.names = tuple(n for n in variables if n not in self.collapsed)
        self.buffer: dict[str, torch.Tensor] | None = None
        self.hot: dict[str, torch.Tensor] | None = None
        self.swap_rates: torch.Tensor | None = None  # the last tempered draw's, per pair
        # Summed-out labels leave the chains as kept ones do: no block moves them.
        self.fixed = self.kept | frozenset(self.collapsed)
        self.schedule = build_schedule(sampler["blocks"], variables, self.fixed)
        self.marginal: MarginalEnergy | None = None
        self.capture = capture
        self.captured: CapturedSweep | None = None

    def fresh(self, count: int, generator, stats, device) -> dict:
        table = {name: self.variables[name] for name in self.names}
        inits = [
            (tuple(n for n in names if n in table), dist, params)
            for names, dist, params in self.sampler["inits"]
        ]
        return initial_values(inits, table, count, generator, stats, device)

    def energy(self, model):
        """What the chains sample: f, or with collapsed labels log sum_labels exp f."""
        if not self.collapsed:
            return model
        if self.marginal is None or self.marginal.model is not model:
            self.marginal = MarginalEnergy(model, self.variables, self.collapsed)
        return self.marginal

    def start(self, generator, stats, device) -> None:
        """Fill the buffer from the init distributions (p0 for x, q0 for y)."""
        if self.persistent:
            self.buffer = self.fresh(self.size, generator, stats, device)

    def draw(self, model, batch: int, generator, stats, device, start: dict | None = None):
        """`batch` negative samples after `steps` sweeps, and the chain state (diagnostics).
        `start` (fresh chains): values of some variables to start from instead of the init
        draws (cd's `start = data`; the draws are made all the same, so the stream is too)."""
        if not self.persistent:
            values = self.fresh(batch, generator, stats, device)
            values.update({n: v.detach() for n, v in (start or {}).items() if n in values})
            slots = None
        else:
            assert self.buffer is not None, "start() fills the buffer first"
            slots = torch.randperm(self.size, generator=generator, device=device)[:batch]
            values = {name: tensor[slots] for name, tensor in self.buffer.items()}
            if self.reinit > 0:
                renew = torch.rand(batch, generator=generator, device=device) < self.reinit
                fresh = self.fresh(batch, generator, stats, device)
                values = {
                    name: torch.where(
                        renew.reshape((batch,) + (1,) * (value.dim() - 1)), fresh[name], value
                    )
                    for name, value in values.items()
                }
        energy = self.energy(model)
        if self.sampler.get("temperatures"):
            # Parallel tempering (eager: a captured sweep holds one temperature per chain set).
            rows = hot = None
            if slots is not None:
                levels = len(self.sampler["temperatures"]) - 1  # the hot ones
                if self.hot is None:
                    self.hot = replicate(self.buffer, levels)
                blocks = torch.arange(levels, device=slots.device)
                rows = (blocks[:, None] * self.size + slots[None]).reshape(-1)
                hot = {name: tensor[rows] for name, tensor in self.hot.items()}
            state, target = run_tempered(energy, self.variables, self.sampler, self.schedule,
                                         values, {}, self.fixed, stats, generator, self.steps,
                                         None, hot)  # fmt: skip
            self.swap_rates = target.swap_rates
            if rows is not None:
                for name, value in target.hot.items():
                    self.hot[name][rows] = value.detach()
        else:
            start = self.schedule.start(values)
            target = Target(energy, self.variables, fixed=self.fixed, stats=stats)
            if self.capture is None:
                state = self.schedule.run(start, target, generator, self.steps)
            else:
                if self.captured is None or self.captured.target.energy is not energy:
                    # One compilation for the run: the same model (trained in place), same shapes.
                    self.captured = CapturedSweep(self.schedule, target, self.capture)
                state = self.captured.run(start, generator, self.steps)
        final = {name: value.detach() for name, value in state.point.values.items()}
        if slots is not None:
            for name, value in final.items():
                self.buffer[name][slots] = value
        return final, state

    def rates(self, state) -> list[torch.Tensor]:
        """Acceptance rate of each block in this draw, then (tempered) of each neighbouring
        pair's swaps (0-d tensors, still on the device; names in `rate_names`)."""
        rates = [acceptance(kernel_state) for kernel_state in state.kernels]
        if self.sampler.get("temperatures"):
            rates += list(self.swap_rates.unbind())
        return rates

    def rate_names(self) -> list[str]:
        """What `rates` returns, in its order: `kernel(variables)` per block, `swap(b, b')`
        per neighbouring pair of temperatures."""
        suffix = " | labels kept" if self.kept else ""
        names = [f"{k.name}({', '.join(k.variables)}){suffix}" for k, _ in self.schedule.blocks]
        levels = self.sampler.get("temperatures") or ()
        pairs = zip(levels[:-1], levels[1:], strict=True)
        names += [f"swap({a:g}, {b:g}){suffix}" for a, b in pairs]
        return names


def impute(
    model,
    sampler: dict,
    variables: dict,
    values: dict,
    observed: dict,
    steps: int,
    generator,
    stats,
    start: dict | None = None,
) -> dict:
    """Fill missing label elements, and the variables `values` lacks (latents), with one draw
    of a chain on p(missing | the rest): observed elements and complete variables clamped,
    missing ones started from the init distribution (or `start`), `steps` sweeps (paper 004,
    Eq. 8; docs/design/ALGORITHMS.md 2.4)."""
    if not observed and all(name in values for name in variables):
        return values
    batch = next(iter(values.values())).shape[0]
    device = next(iter(values.values())).device
    condition = {
        name: (value, observed[name]) if name in observed else value
        for name, value in values.items()
    }
    state, _ = run_conditioned(
        model, variables, sampler, batch, generator, steps, condition, stats, device, start=start
    )
    return {name: value.detach() for name, value in state.point.values.items()}
