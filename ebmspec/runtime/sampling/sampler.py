"""Sampling from a checked program: IR sampler -> plain tables -> `schedule.sample_chains`.

In: an `ir.Program`, its `EnergyModel`, a sampler name (default: the one training uses) and the
conditioning. Out: `ChainState` and `Target` of the run. The tables are exactly what an emitted
standalone module embeds, so both run the same schedule with the same random numbers.
"""

from __future__ import annotations

from ebmspec import ir
from ebmspec.runtime.model.energy import variable_table
from ebmspec.runtime.sampling import schedule
from ebmspec.runtime.sampling.capture import runner


def default_sampler(program: ir.Program) -> str:
    """The sampler `train` uses, else the first one (there is always one after the passes)."""
    if program.train is not None:
        name = dict(program.train.objective.args).get("sampler")
        if name:
            return name
    return program.samplers[0].name


def block_params(block: ir.Block) -> dict:
    """The kernel's constructor arguments: the call's, and a `gibbs` block's colouring."""
    params = dict(block.kernel.args)
    if block.colouring is not None:
        params.update(colours=block.colouring.colours, draw=block.colouring.draw)
    return params


def sampler_table(sampler: ir.Sampler) -> dict:
    """`{"inits": [(names, dist, params)], "blocks": [(kernel, names, params, repeats)],
    "sweeps": n}` with plain Python values only."""
    return {
        "inits": [(init.variables, init.dist.name, dict(init.dist.args)) for init in sampler.inits],
        "blocks": [
            (block.kernel.name, block.variables, block_params(block), block.repeats)
            for block in sampler.blocks
        ],
        "sweeps": sampler.sweeps,
        "temperatures": list(sampler.temperatures),
    }


def sample(
    program: ir.Program,
    model,
    chains: int,
    sweeps: int | None = None,
    seed: int = 0,
    condition: dict | None = None,
    sampler: str | None = None,
    stats: dict | None = None,
    device="cpu",
    fuse: bool = True,
    callback=None,
    specialize: bool = True,
    cache: bool = True,
    capture: str | None = None,
):
    """Chains of `program`'s sampler (see `schedule.sample_chains`); `capture`: a torch.compile
    mode to run the sweeps as graphs in (runtime/sampling/capture.py), None for the eager loop."""
    table = sampler_table(program.sampler(sampler or default_sampler(program)))
    return schedule.sample_chains(
        model,
        variable_table(program),
        table,
        chains,
        sweeps=sweeps,
        seed=seed,
        condition=condition,
        stats=stats,
        device=device,
        fuse=fuse,
        callback=callback,
        specialize=specialize,
        cache=cache,
        runner=runner(capture),
    )
