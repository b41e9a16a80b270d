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
