"""The registry's types: `Param`, `Signature`, and the activation names.

In: nothing. Out: the types every table of `semantic.registry` is written in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

REQUIRED = object()


@dataclass(frozen=True)
class Param:
    """One argument. `type` is one of the value types understood by `semantic.values`."""

    name: str
    type: str
    default: object = REQUIRED
    positional: bool = False
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Signature:
    name: str
    params: tuple[Param, ...]
    doc: str
    variadic: str | None = None  # type of extra positional arguments (concat)
    domains: tuple[str, ...] = ()  # variable kinds a kernel / init may touch
    extra: dict = field(default_factory=dict, hash=False, compare=False)

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)


def table(*signatures: Signature) -> dict[str, Signature]:
    return {s.name: s for s in signatures}


def declare(rows: dict[str, Signature], signature: Signature) -> Signature:
    """Add the row a runtime module declares for itself (a kernel, a dataset) to its table.

    The checker reads these tables but may not import the runtime (layer order), so the rows are
    declared by the modules that implement them when `ebmspec.api` imports their packages; see
    `registry.require_declared`. A second, different row under one name is a bug."""
    if rows.get(signature.name, signature) != signature:
        raise AssertionError(f"two registry rows named `{signature.name}`")
    rows[signature.name] = signature
    # Alphabetical, whatever the import order: messages and the reference list them in this order.
    ordered = sorted(rows.items())
    rows.clear()
    rows.update(ordered)
    return signature


# Variable kinds a kernel or init distribution may touch (`Signature.domains`).
CONTINUOUS = ("real",)
DISCRETE = ("binary", "categorical")

ACTIVATIONS = (
    "identity",
    "relu",
    "elu",
    "silu",
    "swish",
    "gelu",
    "tanh",
    "sigmoid",
    "softplus",
    "leaky_relu",
)

T = "tensor"
