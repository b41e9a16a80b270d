"""Captured sweeps: a schedule's whole sweep traced into one graph by `torch.compile`.

In: a `Schedule`, the `Target` it samples, a chain state and a `torch.Generator`. Out: the chain
state after n sweeps - the chains `Schedule.run` draws from the same generator state, equal up to
floating-point rounding (the compiled graph may fuse and reorder arithmetic).

On a GPU a sweep over a small network at batch 100 is bound by kernel launches, not arithmetic;
one graph per sweep (and, with mode "reduce-overhead", one CUDA-graph replay per sweep) removes
the Python and launch overhead. Two things in the eager kernels stop a trace, and this module
replaces them without touching the kernels' code:

* random numbers: a graph cannot hold a `torch.Generator`. The first sweep runs eagerly under a
  recording `Draws` tape, which notes every draw's kind and shape; each later sweep draws that
  plan from the generator ahead of the graph, in the same order (so the same numbers), and the
  graph reads them from a replaying tape.
* gradients: `FunctionalTarget` takes df/dvalues with `torch.func.grad` instead of
  `requires_grad_` + `autograd.grad` on leaf tensors. The cached static part of the energy (a
  `Memo`, which eagerly keeps an autograd graph alive across blocks) stays: its roots come from
  `torch.func.vjp`, and the pullback gives the held variables' gradients.

A block that adapts its step size (`mala`, `hmc` with `adapt`) branches on its step count while
adapting: sweeps run eagerly until every such block has frozen its step, then the graph takes
over (inside it the count is a constant past `adapt`, and the true count is kept outside).

`mode`: a `torch.compile` mode ("default", "reduce-overhead" = CUDA graphs, ...), or "aot_eager",
which traces the sweep into one graph and runs it op by op without generating code (the tests use
it: it proves the sweep is one graph, needs no C++ compiler and compiles in a second).
"""

from __future__ import annotations

import types

import torch

from ebmspec.runtime.sampling.kernels.base import Memo, Point, Target
from ebmspec.runtime.sampling.kernels.draws import Draws, draw_plan
from ebmspec.runtime.sampling.schedule import ChainState, Schedule

# `ebmspec train|sample --capture`: "off" is the eager loop; "compile" is torch.compile's default
# mode; "graphs" adds CUDA-graph replay (mode "reduce-overhead"), on CUDA only.
CAPTURE_MODES = {"off": None, "compile": "default", "graphs": "reduce-overhead"}


class FunctionalTarget(Target):
    """A `Target` whose evaluations trace: gradients by `torch.func` transforms, not autograd on
    leaf tensors. A block whose moves split the energy still caches its static part (`Memo`):
    the roots come from `torch.func.vjp`, whose pullback stands in for the roots' autograd graph
    when the held variables' gradients are asked for.

    Its evaluation counters stay at zero (a traced function must not read Python ints that change
    every call: each new value would recompile the graph)."""

    counting = False

    def evaluate(self, values: dict, names=None) -> Point:
        names = self.movable if names is None else names

        def total(moving: dict):
            f = self.energy({**values, **moving})
            return f.sum(), f

        # Under no_grad the energy's parameters build no graph; torch.func.grad still
        # differentiates with respect to its own inputs.
        with torch.no_grad():
            grads, f = torch.func.grad(total, has_aux=True)({n: values[n] for n in names})
        return Point(values, f, {n: grads[n] for n in names})

    def _roots(self, point: Point, key: tuple, split) -> Memo:
        values = point.values
        held = {n: values[n] for n in self.movable if n not in key}
        with torch.no_grad():
            if held:
                roots, pullback = torch.func.vjp(
                    lambda leaves: tuple(split.statics({**values, **leaves})), held
                )
            else:
                roots, pullback = tuple(split.statics(values)), None
        return Memo(key, split, roots, roots, held, None, pullback)

    def head(self, memo: Memo, values: dict) -> Point:
        def total(moving: dict, statics: tuple):
            f = memo.split.head(statics, {**values, **moving})
            return f.sum(), f

        moving = {n: values[n] for n in memo.moving}
        with torch.no_grad():
            grads, f = torch.func.grad(total, argnums=(0, 1), has_aux=True)(moving, memo.statics)
        dstatics = tuple(grads[1]) if memo.leaves else None
        return Point(values, f, dict(grads[0]), memo._replace(dstatics=dstatics))

    def _backward_roots(self, point: Point) -> Point:
        if point.memo.dstatics is None:
            point = self.head(point.memo, point.values)
        memo = point.memo
        with torch.no_grad():
            (found,) = memo.pullback(tuple(memo.dstatics))
        return Point(point.values, point.f, {**(point.grads or {}), **found}, memo)


def functional(target: Target) -> FunctionalTarget:
    """The same conditioned target (and caching), evaluated traceably."""
    return FunctionalTarget(
        target.energy, target.variables, target.free, target.fixed, target.cache, target.stats
    )


class CapturedSweep:
    """`Schedule.run` with its sweeps compiled into one graph each (the first one, and any while a
    block adapts its step, eager).

    The compiled function takes and returns plain structures of tensors (the point, the blocks'
    diagnostic tensors, the sweep's draws); the blocks' step counters, Python ints, are kept
    outside it so that no sweep recompiles."""

    def __init__(self, schedule: Schedule, target: Target, mode: str = "default", backend=None):
        self.schedule = schedule
        self.target = functional(target)
        self.mode = mode
        self.plan: list | None = None
        self.eager_sweeps = 0  # sweeps run eagerly: the recording one and any while adapting
        how = {"backend": "aot_eager"} if mode == "aot_eager" else {"mode": mode}
        if backend is not None:  # a torch.compile backend of the caller's (tests count graphs)
            how = {"backend": backend}

        def sweep(point: Point, kernels: tuple, tensors: list):
            return schedule.step(point, kernels, self.target, Draws(None, tensors))

        # fullgraph: a break would split the sweep into pieces with launches between them, the
        # overhead capturing exists to remove; better to fail loudly.
        self.compiled = torch.compile(_own_code(sweep), fullgraph=True, **how)

    def run(self, state: ChainState, generator, sweeps: int, callback=None) -> ChainState:
        for _ in range(sweeps):
            if self.plan is None or _adapting(self.schedule, state.kernels):
                tape = Draws(generator)
                point, kernels = self.schedule.step(state.point, state.kernels, self.target, tape)
                self.plan = tape.plan
                self.eager_sweeps += 1
            else:
                device = next(iter(state.point.values.values())).device
                tensors = draw_plan(self.plan, generator, device)
                if self.mode == "reduce-overhead":
                    torch.compiler.cudagraph_mark_step_begin()
                entered = _enter(self.schedule, state.kernels)
                point, kernels = self.compiled(state.point, entered, tensors)
                kernels = _leave(self.schedule, state.kernels, entered, kernels)
            state = ChainState(point, kernels, state.sweeps + 1)
            if callback is not None:
                callback(self._kept(state))
        return self._kept(state)

    def _kept(self, state: ChainState) -> ChainState:
        """`state` safe to hold on to: a CUDA graph's outputs are overwritten by its next replay,
        so with mode "reduce-overhead" the caller gets copies."""
        if self.mode != "reduce-overhead":
            return state
        return state._replace(point=_cloned(state.point))


def _own_code(function):
    """`function` with a code object of its own. Dynamo keeps its compiled graphs, and counts
    recompilations against a limit of 8, per code object: without a copy every `CapturedSweep`
    in a process (a test suite, the chains of a training run and its evaluation) would share
    one cache, and the ninth schedule would fail with fullgraph on."""
    code = function.__code__.replace()
    return types.FunctionType(
        code, function.__globals__, function.__name__, function.__defaults__, function.__closure__
    )


def _frozen(kernel) -> int:
    """The step count a kernel sees inside the graph: past its adaptation, else 0."""
    adapt = getattr(kernel, "adapt", 0)
    return adapt + 1 if adapt else 0


def _enter(schedule: Schedule, states: tuple) -> tuple:
    return tuple(
        _enter(kernel, state)
        if isinstance(kernel, Schedule)
        else state._replace(steps=_frozen(kernel))
        for (kernel, _), state in zip(schedule.blocks, states, strict=True)
    )


def _leave(schedule: Schedule, before: tuple, entered: tuple, after: tuple) -> tuple:
    """The blocks' states after a sweep with their true step counts restored."""
    return tuple(
        _leave(kernel, b, e, a)
        if isinstance(kernel, Schedule)
        else a._replace(steps=b.steps + a.steps - e.steps)
        for (kernel, _), b, e, a in zip(schedule.blocks, before, entered, after, strict=True)
    )


def _adapting(schedule: Schedule, states: tuple) -> bool:
    """Whether some block still adapts its step in the coming sweep."""
    for (kernel, _), state in zip(schedule.blocks, states, strict=True):
        if isinstance(kernel, Schedule):
            if _adapting(kernel, state):
                return True
        elif getattr(state, "tune", None) is not None and state.steps <= kernel.adapt:
            return True
    return False


def runner(mode: str | None):
    """A `schedule.run_conditioned` runner capturing sweeps in `mode` (see the module's
    docstring), or None (the eager loop) when `mode` is None."""
    if mode is None:
        return None

    def run(schedule: Schedule, state: ChainState, target: Target, generator, sweeps, callback):
        sweep = CapturedSweep(schedule, target, mode)
        return sweep.run(state, generator, sweeps, callback)

    return run


def _cloned(point: Point) -> Point:
    def copy(tensors):
        return None if tensors is None else {n: t.clone() for n, t in tensors.items()}

    f = None if point.f is None else point.f.clone()
    return Point(copy(point.values), f, copy(point.grads), None)
