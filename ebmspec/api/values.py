"""Python values <-> model space: conditions given as Python values, samples decoded.

In (`conditions`): `{variable: value}` with ints or nested lists of them for categoricals and
binaries (True / False too), floats, nested lists, NumPy arrays or tensors for reals (one number
broadcasts over a real variable). Out: `{name: Condition}` as `ebmspec.conditions` makes from
`--condition` text, each value the tensor the sampler clamps. A mistake is the located `UserError`
the same condition typed on the command line gets (E902 unknown variable, E904 type, E905 range,
E906 shape), quoted as `NAME=VALUE` and naming the variable.

In (`decode`): a variable and its model-space samples. Out: data space - categoricals as integer
codes, binaries as 0/1 integers, reals with the run's fitted transforms inverted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import torch

from ebmspec import ir
from ebmspec.conditions import Condition, check_condition
from ebmspec.diagnostics import Diagnostic, UserError
from ebmspec.runtime.model.ops import Var
from ebmspec.runtime.sampling.clamping import ConditionError, clamp_value
from ebmspec.semantic.values import suggest
from ebmspec.source import Source

# Values up to this many numbers are quoted whole in an error (a caret under the wrong number);
# a larger tensor is named by its shape.
QUOTED = 64


def plain(value):
    """A tensor, NumPy array or NumPy scalar as Python numbers / nested lists; else as given."""
    if isinstance(value, torch.Tensor | Mapping):
        return value.tolist() if isinstance(value, torch.Tensor) else value
    tolist = getattr(value, "tolist", None)  # NumPy arrays and scalars
    return tolist() if callable(tolist) else value


def _literal(value) -> str:
    """`value` (plain) as condition text: lists in brackets, floats exactly (repr round-trips)."""
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_literal(item) for item in value) + "]"
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))  # anything else as a string, so the checker names what it is


def _count(value) -> int:
    return sum(_count(item) for item in value) if isinstance(value, list | tuple) else 1


def conditions(program: ir.Program, given: Mapping[str, object] | None) -> dict[str, Condition]:
    """Each `{name: value}` checked against `program`'s variables, in the order given."""
    variables = {v.name: v for v in program.variables}
    checked: dict[str, Condition] = {}
    for name, value in (given or {}).items():
        value = plain(value)
        text = f"{name}={_literal(value)}"
        variable = variables.get(name) if isinstance(name, str) else None
        if variable is None:  # the E902 of `--condition`, located on the name
            source = Source(
                "condition", f"{name}={_literal(value) if _count(value) < 9 else '...'}"
            )
            message = f"unknown variable `{name}`{suggest(str(name), list(variables))}"
            help = f"the variables of `{program.name}` are: " + ", ".join(variables)
            span = source.span(0, len(str(name)))
            raise UserError(source, [Diagnostic("E902", message, span, help)])
        var = Var(variable.kind, variable.shape, variable.categories, variable.low, variable.high)
        try:
            tensor = clamp_value(name, var, value)
        except ConditionError as error:
            if _count(value) <= QUOTED:  # the same value as text: the caret finds the number
                check_condition(program, Source("condition", text))
            shape = list(torch.as_tensor(value).shape) if _count(value) > 1 else []
            short = Source("condition", f"{name}=<{_count(value)} numbers of shape {shape}>")
            span = short.span(len(name) + 1, len(short.text))
            diagnostic = Diagnostic(error.code, error.message, span, error.help)
            raise UserError(short, [diagnostic]) from None
        span = Source("condition", text).span(0, len(name))
        checked[name] = Condition(variable, tensor, text if len(text) < 200 else name, span)
    return checked


def unknown(name, known) -> str:
    """`name` is not one of `known`: the message with a suggestion (for mapping lookups)."""
    return (
        f"no variable `{name}`{suggest(str(name), list(known))}; the variables: {', '.join(known)}"
    )


def decode(variable: ir.Variable, value: torch.Tensor, pipeline=None) -> torch.Tensor:
    """Model-space samples [N, *tensor_shape] of `variable` -> data space [N, *shape]."""
    if variable.kind == "categorical":
        return value.argmax(-1)
    if variable.kind == "binary":
        return value.round().long()
    return pipeline.inverse(value) if pipeline is not None else value
