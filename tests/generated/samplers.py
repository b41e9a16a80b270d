"""Sampler blocks of generated specs: every kernel on every domain it declares.

In: the spec's variables and Hypothesis `draw`. Out: `SamplerPlan`, the `sampler s { }` text
(init lines from `INIT_DISTS`, update lines with kernels from `KERNELS`, `repeat`, `sweeps`) and
the variables a `block_gibbs` updates (the energy must be affine in them). A kernel is chosen
among the rows whose `domains` hold every kind in the block (a row with `mixed` needs a real and
a discrete variable together); its arguments come from their registry types, within the rules
the checker enforces on values (`RULES`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hypothesis import strategies as st

from ebmspec.semantic import registry as reg
from tests.generated.values import Var, argument, call

# Joint values a joint Gibbs draw or a jump may enumerate here (the registry's limit is 65,536;
# smaller keeps each draw cheap).
ENUMERABLE = 256

# Argument values the checker restricts beyond their type: `adapt` tunes a step only in chains
# that run on (not in training's restarted chains: E507).
RULES = {"adapt": "0"}


@dataclass
class SamplerPlan:
    lines: list[str]
    affine: frozenset[str]  # block_gibbs variables


def _kinds(block: list[Var]) -> set[str]:
    return {v.kind for v in block}


def legal_kernels(block: list[Var]) -> list[str]:
    kinds = _kinds(block)
    cardinality = math.prod(v.cardinality for v in block if v.discrete)
    out = []
    for name, signature in reg.KERNELS.items():
        if not kinds <= set(signature.domains):
            continue
        mixed = signature.extra.get("mixed")
        if mixed and not ("real" in kinds and kinds - {"real"}):
            continue
        if not mixed and "real" in kinds and len(kinds) > 1:
            continue
        if signature.extra.get("enumerates") == "always" and cardinality > ENUMERABLE:
            continue
        out.append(name)
    return out


def kernel_call(draw, name: str, block: list[Var]) -> str:
    signature = reg.KERNELS[name]
    cardinality = math.prod(v.cardinality for v in block if v.discrete)
    arguments = []
    for param in signature.params:
        if param.default is not reg.REQUIRED and not draw(st.booleans()):
            continue
        if param.name in RULES:
            value = RULES[param.name]
        elif signature.extra.get("enumerates") == "joint" and param.type == "bool":
            value = "true" if cardinality <= ENUMERABLE and draw(st.booleans()) else "false"
        else:
            value = argument(draw, param)
        if value is not None:
            arguments.append(f"{param.name} = {value}")
    return call(name, arguments)


def init_line(draw, block: list[Var]) -> str | None:
    """`init VARS ~ DIST` with a distribution legal on every variable of the block."""
    legal = []
    for name, signature in reg.INIT_DISTS.items():
        if not _kinds(block) <= set(signature.domains):
            continue
        if signature.extra.get("needs_data") and any(v.latent for v in block):
            continue
        if name == "uniform" and any(v.kind == "real" and v.bounds is None for v in block):
            continue  # a uniform real needs a box
        legal.append(name)
    if not legal:
        return None
    name = draw(st.sampled_from(legal))
    signature = reg.INIT_DISTS[name]
    arguments = [
        f"{p.name} = {value}"
        for p in signature.params
        if draw(st.booleans()) and (value := argument(draw, p)) is not None
    ]
    return f"init {', '.join(v.name for v in block)} ~ {call(name, arguments)}"


@st.composite
def sampler(draw, variables: list[Var], name: str = "s") -> SamplerPlan:
    """One sampler over `variables`: 0-1 init line per kind, then update blocks."""
    lines = []
    pending = list(variables)
    for kind in ("real", "binary", "categorical"):
        same = [v for v in variables if v.kind == kind]
        if same and draw(st.booleans()):
            chosen = draw(st.lists(st.sampled_from(same), min_size=1, unique=True))
            line = init_line(draw, chosen)
            if line:
                lines.append("  " + line)
    blocks: list[list[Var]] = []
    reals = [v for v in pending if v.kind == "real"]
    discrete = [v for v in pending if v.discrete]
    if reals and discrete and draw(st.booleans()):  # a mixed block (jump)
        labels = draw(st.lists(st.sampled_from(discrete), min_size=1, unique=True))
        if math.prod(v.cardinality for v in labels) <= ENUMERABLE:
            blocks.append(labels + draw(st.lists(st.sampled_from(reals), min_size=1, unique=True)))
    for group in (reals, discrete):
        left = [v for v in group if draw(st.booleans())]  # the rest: the default kernel
        while left:
            size = draw(st.integers(1, len(left)))
            blocks.append(left[:size])
            left = left[size:]
    affine: set[str] = set()
    for block in blocks:
        kernels = legal_kernels(block)
        if not kernels:
            continue
        kernel = draw(st.sampled_from(kernels))
        if kernel == "block_gibbs":
            affine |= {v.name for v in block}
        repeat = f" repeat {draw(st.integers(2, 3))}" if draw(st.integers(0, 3)) == 0 else ""
        names = ", ".join(v.name for v in block)
        lines.append(f"  update {names} with {kernel_call(draw, kernel, block)}{repeat}")
    lines.append(f"  sweeps = {draw(st.integers(1, 2))}")
    return SamplerPlan([f"sampler {name} {{", *lines, "}"], frozenset(affine))
