"""The values of clamped variables (`--condition NAME=VALUE`): domain rules, messages, tensors.

In: a variable's name and its row of the variable table (`layers.Var`: kind, shape, categories,
bounds), and a value: one number (a category, 0/1, or a real; one number broadcasts over a real
variable) or nested lists of the variable's shape. Out: the tensor the sampler clamps (categoricals
one-hot [*shape, K], binaries 0/1, reals [*shape]), or a `ConditionError` carrying the code,
message and help. `ebmspec.conditions` puts the error under a caret at the offending character of
the argument; the emitted module (which copies the body below the marker) prints the same message,
so `ebmspec sample` and `python model.py` reject a condition with the same words.

    E904 wrong type of value (not an integer, not a number)
    E905 value out of range (category, 0/1, bounds, finite)
    E906 wrong shape (ragged list, or not the variable's)
"""

from __future__ import annotations

import math

import torch

from ebmspec.runtime.model.ops import code_values

# --- begin standalone ---


class ConditionError(ValueError):
    """A value that a variable cannot take: the diagnostic's code, message and help."""

    def __init__(self, code: str, message: str, help: str):
        super().__init__(f"error[{code}]: {message} (help: {help})")
        self.code, self.message, self.help = code, message, help


def _dims(shape) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


def describe_variable(var) -> str:
    """`categorical(10)`, `real[2] in [-3, 3]`: a variable's domain as the spec writes it."""
    if var.kind == "categorical":
        text = f"categorical({var.categories})" + (_dims(var.shape) if var.shape else "")
    else:
        text = f"{var.kind}{_dims(var.shape)}"
    if var.low is not None:
        text += f" in [{var.low:g}, {var.high:g}]"
    return text


def _expected(var) -> str:
    if var.kind == "real":
        return f"a number or a list of shape {_dims(var.shape)}"
    one, many = ("category", "categories") if var.kind == "categorical" else ("0/1", "0/1s")
    if not var.shape:
        return f"a single {one}"
    if len(var.shape) == 1:
        return f"a list of {var.shape[0]} {many}"
    return f"a list of shape {_dims(var.shape)} of {many}"


def _shape_help(name: str, var) -> str:
    if var.kind == "real":
        return (
            f"give one number (used for every element) or a nested list of shape {_dims(var.shape)}"
        )
    if not var.shape:
        example = 1 if var.kind == "binary" else min(3, var.categories - 1)  # one in range
        return f"e.g. `--condition {name}={example}`"
    example = ", ".join(["0", "1", "0", "1"][i % 4] for i in range(min(var.shape[0], 4)))
    more = ", ..." if var.shape[0] > 4 else ""
    return f"e.g. `--condition {name}=[{example}{more}]`"


def type_help(var) -> str:
    """What to write instead of a value of the wrong type."""
    if var.kind == "real":
        return "write a number such as `0.5` or `-1e-3`"
    return (
        "write 0 or 1"
        if var.kind == "binary"
        else f"write an integer from 0 to {var.categories - 1}"
    )


def check_shape(name: str, var, shape: tuple) -> None:
    """A value of shape `shape` (() for one number) for variable `name`, or E906."""
    if tuple(shape) == tuple(var.shape) or (var.kind == "real" and not shape):
        return
    found = "a single value" if not shape else f"a list of shape {_dims(shape)}"
    raise ConditionError(
        "E906",
        f"wrong shape for `{name}` ({describe_variable(var)}): expected {_expected(var)}, "
        f"found {found}",
        _shape_help(name, var),
    )


def check_number(name: str, var, number, found: str) -> float | int:
    """One number of a value (None: not a number; `found` says what it was instead): its type,
    then its range. Returns it as int (discrete) or float (real)."""
    levels = var.categories if var.kind == "categorical" else 2
    what = {"real": "a number", "binary": "0 or 1"}.get(var.kind, f"a category in [0, {levels})")
    if isinstance(number, bool):  # Python's True / False: a binary's 1 / 0, nothing else's
        number = int(number) if var.kind == "binary" else None
    if number is None or (var.kind != "real" and not isinstance(number, int)):
        raise ConditionError("E904", f"expected {what} for `{name}`, found {found}", type_help(var))
    if var.kind != "real":
        if not 0 <= number < levels:
            message = f"`{name}` ({describe_variable(var)}) takes {what}, found `{number}`"
            raise ConditionError("E905", message, type_help(var))
        return number
    if not math.isfinite(number):
        raise ConditionError(
            "E905", f"`{name}` must be finite, found `{number:g}`", "write a number"
        )
    if var.low is not None and not var.low <= number <= var.high:
        raise ConditionError(
            "E905",
            f"`{name}` must lie in [{var.low:g}, {var.high:g}], found `{number:g}`",
            f"write a number from {var.low:g} to {var.high:g}",
        )
    return float(number)


def encode_value(var, numbers: list, shape: tuple) -> torch.Tensor:
    """Checked numbers (row-major) of a value of shape `shape` -> the tensor the sampler clamps."""
    if var.kind == "categorical":
        codes = torch.tensor(numbers, dtype=torch.long).reshape(var.shape)
        return code_values(codes, var.kind, var.categories)
    value = torch.tensor(numbers, dtype=torch.float32).reshape(shape)
    return value.expand(var.shape).clone() if not shape and var.shape else value


def _nested_shape(value) -> tuple:
    """Shape of nested lists / tuples (() for anything else); E906 when ragged."""
    if not isinstance(value, list | tuple):
        return ()
    shapes = [_nested_shape(item) for item in value]
    for shape in shapes[1:]:
        if shape != shapes[0]:
            raise ConditionError(
                "E906",
                f"ragged list: an item has shape {_dims(shape)}, the first {_dims(shapes[0])}",
                "every item of a list must have the same shape",
            )
    return (len(value), *(shapes[0] if shapes else ()))


def _flat(value) -> list:
    if isinstance(value, list | tuple):
        return [leaf for item in value for leaf in _flat(item)]
    return [value]


def clamp_value(name: str, var, value) -> torch.Tensor:
    """The clamped tensor of variable `name` (table row `var`) from a plain Python value."""
    shape = _nested_shape(value)
    check_shape(name, var, shape)
    numbers = []
    for number in _flat(value):
        plain = number if isinstance(number, int | float) else None
        numbers.append(check_number(name, var, plain, f"`{number!r}`"))
    return encode_value(var, numbers, shape)
