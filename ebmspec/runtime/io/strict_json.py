"""Strict JSON for every file and line the tool writes: a value that is not a finite number
(NaN, +-inf: an accuracy with nothing to score, a diverged loss) becomes `null`, so standard
parsers - which reject the bare `NaN` Python's `json` writes by default - read everything.

In: JSON-able Python values (dicts, lists, tuples, str, bool, int, float, None; numpy or torch
scalars via `float()`). Out: text (`dumps`), with `allow_nan=False` as the guarantee.
"""

from __future__ import annotations

import json
import math


def finite(value):
    """`value` with every non-finite float replaced by None, recursively."""
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float) or hasattr(value, "__float__"):
        number = float(value)
        return number if math.isfinite(number) else None
    return value


def dumps(value, **options) -> str:
    """`json.dumps` of `finite(value)`, refusing anything left that is not strict JSON."""
    return json.dumps(finite(value), allow_nan=False, **options)
