"""Well-typed energies from the registry's energy blocks.

In: the spec's variables, the names the energy must stay affine in (variables a `block_gibbs` or
exact latent sum reads; the checker proves affinity, E410), and Hypothesis `draw`. Out: `Energy`,
the `params { }` and `energy { }` text: a sum of scalar terms, each one registry block applied to
codes of the variables (`mlp(concat(x, onehot(y)), hidden = [8])`, `dot`, `bilinear`, lookups,
`gaussian`, ...). Blocks with coupled arguments have a recipe in `RECIPES`; every other block
whose required arguments are tensors is called generically on a vector and summed
(`sum(NAME(v))`), so a new elementwise or reducing block is covered without editing this file; a
row neither way can build is listed in `UNGENERATED` with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import strategies as st

from ebmspec.semantic import registry as reg
from tests.generated.values import Var, optional_arguments


@dataclass
class Context:
    variables: list[Var]
    affine: frozenset[str]  # variables the energy must be affine in (block_gibbs, exact sums)
    params: list[str] = field(default_factory=list)  # `params { }` lines

    def free(self) -> list[Var]:
        return [v for v in self.variables if v.name not in self.affine]

    def param(self, line: str) -> None:
        self.params.append(line)


def vector(draw, variables: list[Var]) -> tuple[str, int, set[str]] | None:
    """A vector expression over a non-empty subset of `variables` (codes concatenated): text,
    length and the names it reads. Categoricals are read by `onehot` or `embedding`."""
    if not variables:
        return None
    chosen = draw(st.lists(st.sampled_from(variables), min_size=1, max_size=3, unique=True))
    parts, width = [], 0
    for v in chosen:
        if v.kind == "categorical" and draw(st.booleans()):
            dim = draw(st.integers(1, 3))
            parts.append(f"embedding({v.name}, dim = {dim})")
            width += dim * v.sites
        else:
            parts.append(v.code())
            width += v.width()
    text = parts[0] if len(parts) == 1 else f"concat({', '.join(parts)})"
    return text, width, {v.name for v in chosen}


def hidden(draw) -> str:
    return "[" + ", ".join(map(str, draw(st.lists(st.integers(1, 8), max_size=2)))) + "]"


def _reals(ctx: Context, rank: int | None = None) -> list[Var]:
    return [v for v in ctx.free() if v.kind == "real" and (rank is None or len(v.shape) == rank)]


def _mlp(draw, ctx):
    v = vector(draw, ctx.free())
    if v is None:
        return None
    extra = optional_arguments(draw, reg.ENERGY_BLOCKS["mlp"], skip=("hidden", "out"))
    labels = [u for u in ctx.free() if u.kind == "categorical" and not u.shape]
    if labels and draw(st.booleans()):  # JEM indexing: K logits picked by a label
        y = draw(st.sampled_from(labels))
        args = [v[0], f"hidden = {hidden(draw)}", f"out = {y.categories}", *extra]
        return f"mlp({', '.join(args)})[{y.name}]"
    return f"mlp({', '.join([v[0], f'hidden = {hidden(draw)}', *extra])})"


def _linear(draw, ctx):
    v = vector(draw, ctx.variables)  # affine in every input
    if v is None:
        return None
    if draw(st.booleans()):
        bias = draw(st.sampled_from(["true", "false"]))
        return f"sum(linear({v[0]}, out = {draw(st.integers(1, 3))}, bias = {bias}))"
    return f"linear({v[0]})"


def _pair(draw, ctx, name):
    """dot / bilinear: an affine variable only on one side, the other side free of it."""
    left = vector(draw, ctx.variables)
    if left is None:
        return None
    used = left[2]
    others = [v for v in ctx.free() if v.name not in used] or (
        [] if used & ctx.affine else ctx.free()
    )
    right = vector(draw, others)
    if right is None:
        return None
    if name == "dot":  # equal lengths: map the right side to the left's
        return f"dot({left[0]}, mlp({right[0]}, hidden = {hidden(draw)}, out = {left[1]}))"
    return f"bilinear({left[0]}, {right[0]})"


def _quadratic(draw, ctx, name):
    v = vector(draw, ctx.free())
    if v is None:
        return None
    return f"{name}({v[0]}, bias = {draw(st.sampled_from(['true', 'false']))})"


def _gaussian(draw, ctx):
    reals = _reals(ctx)
    if not reals:
        return None
    x = draw(st.sampled_from(reals))
    args = [x.name]
    others = [v for v in ctx.free() if v.name != x.name]
    choice = draw(st.integers(0, 2))
    if choice == 1:
        args.append(f"mean = {draw(st.sampled_from([-0.5, 0.0, 1.0])):g}")
    elif choice == 2 and others and len(x.shape) == 1:  # a mean predicted from the others
        args.append(f"mean = linear({vector(draw, others)[0]}, out = {x.shape[0]})")
    if draw(st.booleans()):
        args.append("std = exp(log_s)")
        if "log_s = 0.0" not in ctx.params:
            ctx.param("log_s = 0.0")
    elif draw(st.booleans()):
        args.append(f"std = {draw(st.sampled_from([0.5, 1.0, 2.0])):g}")
    return f"gaussian({', '.join(args)})"


def _diag_gaussian(draw, ctx):
    reals = _reals(ctx)
    return f"diag_gaussian({draw(st.sampled_from(reals)).name})" if reals else None


def _reshape(draw, ctx):
    v = vector(draw, ctx.free())
    if v is None:
        return None
    rows = draw(st.sampled_from([d for d in range(1, v[1] + 1) if v[1] % d == 0]))
    return f"logsumexp(reshape({v[0]}, shape = [{rows}, {v[1] // rows}]))"


def _reduce_axis(draw, ctx, name):
    v = vector(draw, ctx.free())
    if v is None:
        return None
    matrices = _reals(ctx, 2)
    if matrices and draw(st.booleans()):
        z = draw(st.sampled_from(matrices)).name
        axis = draw(st.sampled_from([0, 1, -1]))
        return f"sum({name}({z}, axis = {axis}))"
    return f"{name}({v[0]})"


def _extreme(draw, ctx, name):
    v = vector(draw, ctx.free())
    if v is None:
        return None
    form = draw(st.integers(0, 2))
    if form == 0:
        return f"{name}({v[0]})"
    if form == 1:
        return f"sum({name}({v[0]}, {draw(st.sampled_from([0, 0.5]))}))"
    return f"sum({name}({v[0]}, tanh({v[0]})))"


def _clamp(draw, ctx):
    v = vector(draw, ctx.free())
    if v is None:
        return None
    bounds = draw(st.sampled_from([["min = -1"], ["max = 0.5"], ["min = -0.5", "max = 1"]]))
    return f"sum(clamp({', '.join([v[0], *bounds])}))"


def _roll(draw, ctx):
    matrices = _reals(ctx, 2)
    if matrices and draw(st.booleans()):
        z = draw(st.sampled_from(matrices)).name
        shift, axis = draw(st.integers(-2, 2)), draw(st.sampled_from([0, 1, -1]))
        slices = draw(st.sampled_from(["", f" + sum({z}[:, 1:] * {z}[:, :-1])", f" + {z}[0, -1]"]))
        return f"sum({z} * roll({z}, shift = {shift}, axis = {axis})){slices}"
    v = vector(draw, ctx.free())
    return None if v is None else f"sum({v[0]} * roll({v[0]}))"


def _matmul(draw, ctx):
    v = vector(draw, ctx.free())
    if v is None:
        return None
    rows = draw(st.integers(1, 3))
    name = f"W{len(ctx.params)}"
    ctx.param(f"{name}[{rows}, {v[1]}] = normal(std = 0.1)")
    return f"sum(tanh(matmul({name}, {v[0]})))"


def _conv(draw, ctx):
    matrices = [v for v in _reals(ctx, 2) if min(v.shape) >= 1]
    if not matrices:
        return None
    z = draw(st.sampled_from(matrices)).name
    if "K = [[0, 1, 0], [1, 0, 1], [0, 1, 0]] fixed" not in ctx.params:
        ctx.param("K = [[0, 1, 0], [1, 0, 1], [0, 1, 0]] fixed")
    periodic = draw(st.sampled_from(["true", "false"]))
    return f"0.1 * sum({z} * conv({z}, kernel = K, periodic = {periodic}))"


def _images(ctx):
    return _reals(ctx, 3)


def _cnn(draw, ctx):
    images = _images(ctx)
    if not images:
        return None
    x = draw(st.sampled_from(images))
    layers = draw(st.integers(1, 2))
    channels = [draw(st.integers(1, 4)) for _ in range(layers)]
    kernels = [draw(st.sampled_from([1, 3])) for _ in range(layers)]
    args = [x.name, f"channels = {channels}", f"kernels = {kernels}"]
    if draw(st.booleans()):
        args.append(f"strides = {[draw(st.integers(1, 2)) for _ in range(layers)]}")
    if draw(st.booleans()):
        args.append(f"head = {draw(st.integers(1, 3))}")
    args.append(f"act = {draw(st.sampled_from(reg.ACTIVATIONS))}")
    return f"mlp(flatten(cnn({', '.join(args)})), hidden = {hidden(draw)})"


def _avgpool(draw, ctx):
    images = [v for v in _images(ctx) if min(v.shape[1:]) >= 2]
    if not images:
        return None
    x = draw(st.sampled_from(images))
    return f"mean(avgpool({x.name}, size = {draw(st.integers(1, min(x.shape[1:])))}))"


def _nice(draw, ctx):
    reals = _reals(ctx)
    v = vector(draw, reals)
    if v is None or v[1] < 2:
        return None
    return f"nice({v[0]}, layers = {draw(st.integers(1, 2))}, hidden = {hidden(draw)})"


def _positive(draw, ctx, name):
    v = vector(draw, ctx.free())
    if v is None:
        return None
    # `v ** 2`, not `v * v`: a second copy of v's text would be a second set of weights.
    inner = {"log": f"1 + abs({v[0]})", "sqrt": f"1 + {v[0]} ** 2", "exp": f"tanh({v[0]})"}
    return f"sum({name}({inner[name]}))"


def _codes(draw, ctx, name):
    labels = [v for v in ctx.variables if v.kind == "categorical"]
    if not labels:
        return None
    y = draw(st.sampled_from(labels))
    if name == "embedding":
        return f"sum(embedding({y.name}, dim = {draw(st.integers(1, 3))}))"
    return f"sum(onehot({y.name}) * {draw(st.sampled_from([0.5, -1.0]))})"


def _lookup(draw, ctx):
    """A learned table indexed by one or two categoricals (per site for arrays)."""
    labels = [v for v in ctx.variables if v.kind == "categorical"]
    if not labels:
        return None
    chosen = draw(st.lists(st.sampled_from(labels), min_size=1, max_size=2, unique=True))
    if len(chosen) == 2 and chosen[0].shape != chosen[1].shape:
        chosen = chosen[:1]
    if len(chosen) == 2 and {v.name for v in chosen} & ctx.affine:
        chosen = chosen[:1]  # a product of two affine codes couples their sites
    name = f"T{len(ctx.params)}"
    ctx.param(f"{name}[{', '.join(str(v.categories) for v in chosen)}] = 0.0")
    return f"sum({name}[{', '.join(v.name for v in chosen)}])"


RECIPES = {
    "mlp": _mlp,
    "linear": _linear,
    "dot": lambda d, c: _pair(d, c, "dot"),
    "bilinear": lambda d, c: _pair(d, c, "bilinear"),
    "quadratic": lambda d, c: _quadratic(d, c, "quadratic"),
    "ising": lambda d, c: _quadratic(d, c, "ising"),
    "gaussian": _gaussian,
    "diag_gaussian": _diag_gaussian,
    "reshape": _reshape,
    "flatten": _reshape,  # every multi-axis variable's code is a flatten
    "concat": _linear,
    "sum": lambda d, c: _reduce_axis(d, c, "sum"),
    "mean": lambda d, c: _reduce_axis(d, c, "mean"),
    "logsumexp": lambda d, c: _reduce_axis(d, c, "logsumexp"),
    "max": lambda d, c: _extreme(d, c, "max"),
    "min": lambda d, c: _extreme(d, c, "min"),
    "clamp": _clamp,
    "roll": _roll,
    "matmul": _matmul,
    "conv": _conv,
    "cnn": _cnn,
    "avgpool": _avgpool,
    "nice": _nice,
    "log": lambda d, c: _positive(d, c, "log"),
    "sqrt": lambda d, c: _positive(d, c, "sqrt"),
    "exp": lambda d, c: _positive(d, c, "exp"),
    "embedding": lambda d, c: _codes(d, c, "embedding"),
    "onehot": lambda d, c: _codes(d, c, "onehot"),
    "lookup": _lookup,  # `T[a, b]`: language, not a registry row
}


def generic_reason(signature: reg.Signature) -> str | None:
    """Why `sum(NAME(v, ...))` cannot call this block (None: it can)."""
    if signature.variadic and signature.variadic != reg.signatures.T:
        return f"variadic arguments of type {signature.variadic}"
    for p in signature.params:
        if p.default is not reg.REQUIRED:
            continue
        if not p.positional or p.type != reg.signatures.T:
            return f"required argument `{p.name}` of type {p.type} has no generic value"
    return None


def _generic(draw, ctx, signature: reg.Signature):
    v = vector(draw, ctx.free())
    if v is None:
        return None
    tensors = [p for p in signature.params if p.positional and p.default is reg.REQUIRED]
    inputs = [v[0]] * max(1, len(tensors))
    # Optional keywords stay at their defaults: a random `axis` would not fit every input.
    return f"sum({signature.name}({', '.join(inputs)}))"


def UNGENERATED() -> dict[str, str]:
    """Energy blocks no recipe covers and the generic call cannot build, with the reason."""
    return {
        name: reason
        for name, s in reg.ENERGY_BLOCKS.items()
        if name not in RECIPES and (reason := generic_reason(s)) is not None
    }


def term(draw, ctx: Context) -> str | None:
    """One scalar term: a recipe or a generic call of a registry block (None: not applicable)."""
    names = sorted(set(RECIPES) | set(reg.ENERGY_BLOCKS))
    name = draw(st.sampled_from(names))
    if name in RECIPES:
        return RECIPES[name](draw, ctx)
    signature = reg.ENERGY_BLOCKS[name]
    return None if generic_reason(signature) else _generic(draw, ctx, signature)


def affine_term(draw, ctx: Context) -> str:
    """A term over the affine variables, affine in them: a linear map of their codes, or their
    codes times a function of the other variables."""
    mine = [v for v in ctx.variables if v.name in ctx.affine]
    code = vector(draw, mine)
    others = vector(draw, ctx.free()) if ctx.free() else None
    if others is None or draw(st.booleans()):
        return f"linear({code[0]})"
    return f"dot({code[0]}, mlp({others[0]}, hidden = {hidden(draw)}, out = {code[1]}))"


@st.composite
def energy(draw, variables: list[Var], affine: frozenset[str] = frozenset()):
    """(params lines, energy body lines): 1-4 terms, with coefficients and let-bindings."""
    ctx = Context(variables, affine)
    terms = []
    if affine:
        terms.append(affine_term(draw, ctx))
    for _ in range(draw(st.integers(1, 4))):
        made = term(draw, ctx)
        if made is not None:
            terms.append(made)
    parametric = [n for n, s in reg.ENERGY_BLOCKS.items() if s.extra.get("parametric")]
    learned = [p for p in ctx.params if not p.endswith(" fixed")]
    if not any(f"{n}(" in t for t in terms for n in parametric) and not learned:
        terms.append(f"linear({vector(draw, variables)[0]})")  # something to train (E924)
    for v in ctx.free():  # a confining prior keeps unbounded chains finite
        if v.kind == "real" and v.bounds is None:
            terms.append(f"-0.5 * sum({v.name} ** 2)")
    lines = []
    for i, text in enumerate(terms):
        if draw(st.booleans()):
            lines.append(f"t{i} = {text}")
            terms[i] = f"t{i}"
    coefficient = draw(st.sampled_from(["", "0.5 * ", "-"]))
    lines.append("return " + coefficient + "(" + " + ".join(terms) + ")")
    return ctx.params, lines


def flow(draw, variables: list[Var]) -> tuple[list[str], list[str]]:
    """A normalised flow energy over every real variable (what exact `nll` needs); with a label,
    the mixture base indexed by it (a generative classifier)."""
    reals = [v for v in variables if v.kind == "real"]
    code = reals[0].code() if len(reals) == 1 else f"concat({', '.join(v.code() for v in reals)})"
    args = [code, f"layers = {draw(st.integers(1, 2))}", f"hidden = {hidden(draw)}"]
    labels = [v for v in variables if v.kind == "categorical" and not v.shape]
    if labels:
        y = labels[0]
        return [], [f"return nice({', '.join([*args, f'classes = {y.categories}'])})[{y.name}]"]
    return [], [f"return nice({', '.join(args)})"]
