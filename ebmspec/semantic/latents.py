"""How an objective's data term treats the latent (unobserved) variables (E508).

In: the objective's `ir.Call` (defaults filled in), the latent `ir.Variable`s and the scope (the
checked energy, whether the dataset draws fresh examples). Out: the call with `latents = auto`
resolved to `exact`, `fresh` or `persistent`, or None after a located error.
"""

from __future__ import annotations

import math

from ebmspec import energy_facts, ir
from ebmspec.semantic import registry as reg


def check_latents(sink, scope, call: ir.Call, latents: list) -> ir.Call | None:
    """E508: how the objective's data term treats the latent variables. `ssm`, `vera`, `cll`,
    `dsm`, `nce` and a flow's `nll` cannot; `nll` over discrete variables sums them out (E504
    bounds the enumeration); `pcd`, `cd`, `jem` and `pseudo_likelihood` resolve `latents =
    auto` to `exact` when their values (site by site where f is affine in them) fit within
    MAX_ENUMERABLE, else (pcd, cd) to chains, and refuse an exact sum or a persistent chain
    that cannot be had (`jem` and `pseudo_likelihood` only sum exactly)."""
    listed = ", ".join(f"`{v.name}` ({v.describe()})" for v in latents)
    alternatives = "use `pcd` or `cd`: they sum latent variables out exactly or draw them by "
    if call.name in ("ssm", "vera", "cll", "dsm", "nce") or (call.name == "nll" and scope.flow):
        sink.error(
            "E508",
            f"`{call.name}` cannot handle latent variables, and {listed} "
            f"{'is' if len(latents) == 1 else 'are'} latent",
            call.span,
            alternatives + "chains clamped to the data",
        )
        return None
    if call.name == "nll":
        return call
    mode = dict(call.args)["latents"]
    count = energy_facts.exact_sum_cost(scope.energy, latents)
    separable = count is not None and energy_facts.separable(
        scope.energy, [v.name for v in latents]
    )
    exact_only = call.name in ("jem", "pseudo_likelihood")
    if count is not None and call.name == "jem":
        count *= math.prod(v.cardinality for v in scope.variables.values()
                           if v.discrete and v.observed)  # fmt: skip
    fits = count is not None and count <= reg.MAX_ENUMERABLE
    chains = "fresh" if scope.drawn_data else "persistent"
    if mode == "auto":
        mode = "exact" if fits or exact_only else chains
    if mode == "exact" and not fits:
        what = (
            "real values cannot be enumerated"
            if count is None
            else f"that is {count:,} energy evaluations per example, over the limit of "
            f"{reg.MAX_ENUMERABLE:,}"
        )
        sink.error(
            "E508",
            f"`{call.name}` sums the latent {listed} out exactly, and {what}",
            call.span,
            (
                "use `pcd` or `cd` with `latents = fresh` or `persistent`: clamped chains draw "
                "them"
                if exact_only
                else "use `latents = fresh` or `latents = persistent`: clamped chains draw "
                "them"
            )
            + ("" if separable or count is None else "; an energy affine in them (`bilinear`, "
               "`linear`, `logits[k]`) is summed one site at a time"),
        )  # fmt: skip
        return None
    if call.name == "jem" and mode != "exact":
        sink.error(
            "E508",
            f"`jem` sums latent variables out exactly; `latents = {mode}` draws them",
            call.span,
            "use `latents = exact`, or `pcd(latents = " + mode + ")`",
        )
        return None
    if mode == "persistent" and scope.drawn_data:
        sink.error(
            "E508",
            "persistent latent chains follow training examples, and this dataset draws "
            "fresh examples every batch",
            call.span,
            "use `latents = fresh`: a clamped chain from the init distributions each time",
        )
        return None
    return call.with_arg("latents", mode)
