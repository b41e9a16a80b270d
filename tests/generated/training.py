"""Objectives, `train`, `evaluate` and `--condition`s of generated specs.

In: the spec's variables and Hypothesis `draw`. Out: `objectives_for` (the registry's objectives
this set of variables can train, with what each allows), `train_block` (an objective call and
optimizer from their signatures, every train setting drawn from its type with batch <= 8,
iterations <= 3, steps <= 2), `evaluate_block` (an energy-based prediction of a label) and
`condition` (`NAME=VALUE` for `ebmspec sample`).
"""

from __future__ import annotations

import math

from hypothesis import strategies as st

from ebmspec.semantic import registry as reg
from tests.generated.values import Var, argument, call

ENUMERABLE = 256  # joint values of the discrete variables exact `nll` may enumerate here

# What each objective needs of the variables, as the registry documents it (a new objective with
# no entry is tried on any variables, with no latent ones).
NEEDS = {
    "pcd": {"latent": True},
    "cd": {"latent": True},
    "jem": {"latent": "discrete", "label": True},  # jem sums latents out exactly (E508)
    "cll": {"given": True},
    "ssm": {"real": True},
    "vera": {"real": True},
    "nll": {"enumerable_or_flow": True},
    "dsm": {"real": True},
    "pseudo_likelihood": {"discrete": True},  # sites of observed discrete variables
}

# Settings whose values this test keeps small or fixed, whatever their type allows.
SMALL_SETTINGS = {
    "batch": lambda d: str(d(st.integers(2, 8))),
    "iterations": lambda d: str(d(st.integers(1, 3))),
    "eval_every": lambda d: str(d(st.integers(1, 3))),
    "checkpoint_every": lambda d: str(d(st.integers(1, 3))),
    "steps": lambda d: str(d(st.integers(1, 2))),
    # at least the largest batch (E510: each iteration takes `batch` chains from the buffer)
    "buffer": lambda d: str(d(st.integers(8, 64))),
    "lr": lambda d: f"{d(st.sampled_from([1e-4, 1e-3, 1e-2])):g}",
    "latent": lambda d: str(d(st.integers(1, 4))),
    # VERA's generator at a rate of 0.1 runs off with an energy that cannot push back (E929).
    "generator_lr": lambda d: f"{d(st.sampled_from([1e-4, 1e-3])):g}",
    "posterior_lr": lambda d: f"{d(st.sampled_from([1e-4, 1e-3])):g}",
    "importance": lambda d: str(d(st.integers(1, 3))),
    "projections": lambda d: str(d(st.integers(1, 2))),
    "sigmas": lambda d: d(st.sampled_from(["[0.1]", "[0.5, 0.1]", "[1.0]"])),
    "ratio": lambda d: str(d(st.integers(1, 2))),
    "sites": lambda d: str(d(st.integers(0, 3))),
}
# Settings left out: `labels_per_class` keeps that many labelled rows per class, more than a
# 16-row file holds for every class; `capture` compiles the sweeps with inductor (seconds per
# spec; tests/runtime/sampling/test_capture.py and the slow CI step test captured sweeps).
LEFT_OUT = ("objective", "optimizer", "labels_per_class", "capture")


def _labels(variables: list[Var]) -> list[Var]:
    return [v for v in variables if v.kind == "categorical" and not v.shape and not v.latent]


def objectives_for(variables: list[Var]) -> dict[str, dict]:
    """The objectives these (observed) variables can train, each with its needs."""
    reals = [v for v in variables if v.kind == "real"]
    out = {}
    for name in reg.OBJECTIVES:
        needs = NEEDS.get(name, {})
        if needs.get("label") and not _labels(variables):
            continue
        if needs.get("given") and len(variables) < 2:
            continue
        if needs.get("real") and not reals:
            continue
        if needs.get("discrete") and not any(v.discrete for v in variables):
            continue
        if needs.get("enumerable_or_flow"):
            joint = math.prod(v.cardinality for v in variables if v.discrete)
            flow = sum(v.sites for v in reals) >= 2 and all(
                v.kind == "real" or v in _labels(variables)[:1] for v in variables
            )
            if reals and not flow or not reals and joint > ENUMERABLE:
                continue
            needs = {"flow": bool(reals)}
        out[name] = needs
    return out


def _objective(draw, name: str, variables: list[Var], drawn: bool = False) -> str:
    """`drawn`: the dataset draws fresh examples every batch (no rows to keep chains for)."""
    signature = reg.OBJECTIVES[name]
    observed = [v for v in variables if not v.latent]
    latents = [v for v in variables if v.latent]
    arguments = []
    for p in signature.params:
        required = p.default is reg.REQUIRED
        if not required and not draw(st.booleans()):
            continue
        if p.type.rstrip("?") == "sampler":
            value = "s"
        elif p.type.rstrip("?") == "variable":
            pool = observed if p.name == "given" else _labels(variables)
            if not pool:
                continue
            value = draw(st.sampled_from(pool)).name
        elif p.name in SMALL_SETTINGS:
            value = SMALL_SETTINGS[p.name](draw)
        elif p.name == "alpha" and not _labels(variables):
            continue  # alpha weighs log p(y | x): it needs a label (E503)
        elif p.name == "latents" and name in ("jem", "pseudo_likelihood"):
            value = draw(st.sampled_from(["auto", "exact"]))  # they sum them out (E508)
        elif p.name == "latents" and drawn:  # persistent chains follow rows (E508)
            value = draw(st.sampled_from(["auto", "fresh"] if name != "jem" else ["auto"]))
        elif p.name == "latents" and any(v.kind == "real" for v in latents):
            value = draw(st.sampled_from(["auto", "fresh", "persistent"]))  # no exact real sums
        else:
            value = argument(draw, p)
        if value is not None:
            arguments.append(f"{p.name} = {value}")
    return f"{name}({', '.join(arguments)})"


def _optimizer(draw) -> str:
    name = draw(st.sampled_from(sorted(reg.OPTIMIZERS)))
    arguments = []
    for p in reg.OPTIMIZERS[name].params:
        if draw(st.booleans()):
            value = SMALL_SETTINGS[p.name](draw) if p.name in SMALL_SETTINGS else argument(draw, p)
            if value is not None:
                arguments.append(f"{p.name} = {value}")
    return call(name, arguments) if arguments else f"{name}()"


def train_block(draw, objective: str, variables: list[Var], drawn: bool = False) -> list[str]:
    lines = ["train {", f"  objective = {_objective(draw, objective, variables, drawn)}"]
    if draw(st.booleans()):
        lines.append(f"  optimizer = {_optimizer(draw)}")
    for key, p in reg.TRAIN_SETTINGS.items():
        if key in LEFT_OUT:
            continue
        if key in ("batch", "iterations") or draw(st.integers(0, 3)) == 0:
            value = SMALL_SETTINGS[key](draw) if key in SMALL_SETTINGS else argument(draw, p)
            if value is not None:
                lines.append(f"  {key} = {value}")
    return [*lines, "}", ""]


def evaluate_block(draw, variables: list[Var]) -> list[str]:
    """`predict y from the rest by energy` for an observed label, sometimes."""
    observed = [v for v in variables if not v.latent]
    targets = [v for v in observed if v.discrete and v.cardinality <= ENUMERABLE]
    if any(v.latent and v.kind == "real" for v in variables):
        return []  # a prediction sums out the latent variables: real ones cannot be (E703)
    if not targets or len(observed) < 2 or not draw(st.booleans()):
        return []
    target = draw(st.sampled_from(targets))
    given = ", ".join(v.name for v in observed if v is not target)
    lines = ["evaluate {", f"  predict {target.name} from {given} by energy"]
    if draw(st.booleans()):
        lines.append(f"  calibration ece(bins = {draw(st.integers(2, 5))})")
    return [*lines, "}", ""]


def _value(draw, v: Var) -> str:
    if v.kind == "real":
        low, high = v.bounds or (-1.0, 1.0)
        return f"{draw(st.sampled_from([low, (low + high) / 2, high])):g}"
    count = v.categories or 2
    sites = [str(draw(st.integers(0, count - 1))) for _ in range(v.sites)]
    if not v.shape:
        return sites[0]
    return _nested(sites, v.shape)


def _nested(values: list[str], shape: tuple[int, ...]) -> str:
    if len(shape) == 1:
        return "[" + ", ".join(values) + "]"
    step = len(values) // shape[0]
    return (
        "["
        + ", ".join(_nested(values[i : i + step], shape[1:]) for i in range(0, len(values), step))
        + "]"
    )


def condition(draw, variables: list[Var]) -> str | None:
    """`NAME=VALUE` clamping one variable (a single number broadcasts over a real one)."""
    if not draw(st.booleans()):
        return None
    v = draw(st.sampled_from(variables))
    return f"{v.name}={_value(draw, v)}"
