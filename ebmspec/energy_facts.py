"""Facts read off a checked energy graph without running it: whether f is a normalised flow
density (what exact `nll` needs) and whether it is separable in some discrete variables (what
the exact latent sum site by site and `block_gibbs` need).

In: an `ir.Energy` and variable names or `ir.Variable`s. Out: booleans.
"""

from __future__ import annotations

import math

from ebmspec.ir import Energy, ENode, Input, Op, Ref, Variable


def flow_density(energy: Energy | None, variables) -> bool:
    """Whether f is an exact, normalised log-density: the result is a `nice` flow whose input
    holds every real variable exactly once, only reshaped (`flatten`, `concat`, `reshape`, or
    a `let` of those), and the model has no discrete variable; then log p(x) = f(x). Or the
    result is a class-conditional flow indexed by the one discrete variable, a categorical:
    `nice(..., classes = K)[y]`; then f(x, y) = log p(x | y), normalised over x for each y."""
    if energy is None:
        return False
    lets = {let.name: let.value for let in energy.lets}

    def resolve(node: ENode) -> ENode:
        while isinstance(node, Ref):
            node = lets[node.name]
        return node

    result = resolve(energy.result)
    discrete = [v for v in variables if v.discrete]
    if discrete:
        (label,) = discrete if len(discrete) == 1 else (None,)
        if label is None or label.kind != "categorical" or label.shape:
            return False
        if not (isinstance(result, Op) and result.op == "index"):
            return False
        scores, which = resolve(result.inputs[0]), result.inputs[1]
        if not (isinstance(which, Input) and which.variable == label.name):
            return False
        if not (isinstance(scores, Op) and dict(scores.attrs).get("classes")):
            return False
        result = scores
        variables = [v for v in variables if not v.discrete]
    if not (isinstance(result, Op) and result.op == "nice"):
        return False
    seen: list[str] = []

    def reshaped(node: ENode) -> bool:
        node = resolve(node)
        if isinstance(node, Input):
            seen.append(node.variable)
            return True
        if isinstance(node, Op) and node.op in ("flatten", "concat", "reshape"):
            return all(reshaped(child) for child in node.inputs)
        return False

    if not reshaped(result.inputs[0]):
        return False
    return sorted(seen) == sorted(v.name for v in variables)


# Ops whose value is affine in each input when the others are constant in the latents (sums,
# reshapes, codes, affine maps), and those that are affine in one input at a time (products).
_AFFINE_OPS = frozenset(
    {"add", "sub", "neg", "sum", "mean", "flatten", "reshape", "concat", "onehot", "embedding",
     "linear", "identity", "subscript", "roll"}
)  # fmt: skip
_PRODUCT_OPS = frozenset({"mul", "bilinear", "dot", "index", "lookup"})


def separable(energy: Energy | None, latents) -> bool:
    """Whether f is affine in the model-space codes of the variables `latents` (0/1 for binary,
    one-hot for categorical): built from them by sums, reshapes, codes, affine maps and products
    with factors that do not read them (an RBM's `bilinear(v, h) + linear(h)`, a mixture's
    `logits[k]`). Then f(x, h) = a(x) + sum_j g_j(x, h_j), the latent sites are independent given
    the rest, and log sum_h exp f = f(x, h0) + sum_j logsumexp_k (f(x, h0 with h_j = k) -
    f(x, h0)): 1 + sum_j (K_j - 1) evaluations instead of prod_j K_j. Conservative: any other op
    that reads a latent (a nonlinearity, `quadratic`, `gaussian`) makes it False."""
    if energy is None:
        return False
    latents = frozenset(latents)
    lets = {let.name: let.value for let in energy.lets}
    memo: dict[int, tuple[bool, bool]] = {}

    def visit(node: ENode) -> tuple[bool, bool]:
        """(reads a latent, affine in the latents)."""
        while isinstance(node, Ref):
            node = lets[node.name]
        if isinstance(node, Input):
            return node.variable in latents, True
        if not isinstance(node, Op):
            return False, True
        key = id(node)
        if key not in memo:
            parts = [visit(child) for child in node.inputs]
            reads = sum(r for r, _ in parts)
            affine = all(a for _, a in parts)
            if not reads:
                memo[key] = (False, True)
            elif node.op in _AFFINE_OPS or (node.op == "mlp" and not dict(node.attrs)["hidden"]):
                memo[key] = (True, affine)
            elif node.op in _PRODUCT_OPS or (node.op == "div" and not parts[1][0]):
                memo[key] = (True, affine and reads == 1)
            else:
                memo[key] = (True, False)
        return memo[key]

    return visit(energy.result)[1]


def exact_sum_cost(energy: Energy | None, variables: list[Variable]) -> int | None:
    """Energy evaluations per example that summing the `variables` out exactly takes: 1 + sum
    over their sites of (K - 1) when f is separable in them (`separable`), else every joint
    value; None when one of them is real (it cannot be enumerated)."""
    if any(not v.discrete for v in variables):
        return None
    if separable(energy, [v.name for v in variables]):
        return 1 + sum(((v.categories or 2) - 1) * v.sites for v in variables)
    return math.prod(v.cardinality for v in variables)
