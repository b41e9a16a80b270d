"""npz: NumPy arrays from an .npz archive (or one .npy array), mapped onto the variables by name.

Every observed variable takes the array of its name (`x`, `labels`, ...), or the one an
`arrays = ["x = images"]` entry names; an .npy file holds one array, for the one observed
variable. Rows are examples: an array is [N, *shape] (or any [N, ...] with as many elements per
row, reshaped). Arrays named `<array>_test` beside them, for every variable, are the test split;
otherwise `test` of the rows are, drawn with the seed. Values: real -> float32; binary -> 0/1;
categorical(K) -> integers 0..K-1; -1 marks a missing binary or categorical value.
"""

from __future__ import annotations

import math
import re
import zipfile
from pathlib import Path

import numpy as np
import torch

from ebmspec.runtime.data.base import Context, count_rows, resolve_file, split_rows, unreadable
from ebmspec.semantic.data import describe_field
from ebmspec.semantic.registry.signatures import Param as P
from ebmspec.semantic.registry.signatures import Signature

SIGNATURE = Signature(
    "npz",
    (P("file", "string"), P("test", "prob", 0.1), P("arrays", "strings", ())),
    "NumPy arrays from an .npz (every observed variable takes the array of its name, or the "
    'one `arrays = ["x = images"]` names; `<array>_test` arrays are the test split) or one '
    ".npy array for the one observed variable; rows are examples",
)

NPZ_HELP = "save the arrays with numpy.savez(file, x=..., y=...), one row per example"


def fields(args: dict) -> None:
    """Mapped by name: the dataset provides what the spec's observed variables declare."""
    return None


def _read(context: Context, path: Path) -> dict[str, np.ndarray]:
    try:
        if path.suffix == ".npy":
            if len(context.fields) != 1:
                raise context.fail(
                    "E622",
                    f"`{path}` holds one array, and the spec observes {len(context.fields)} "
                    "variables",
                    "save them together in an .npz (numpy.savez), one array per variable",
                )
            return {next(iter(context.fields)): np.load(path, allow_pickle=False)}
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise unreadable(context, path, error, NPZ_HELP) from None


def _mapping(context: Context, names: list[str], path: Path) -> dict[str, str]:
    """Variable -> the array it takes."""
    mapping, entries = {}, {}
    for entry in context.args["arrays"]:
        match = re.fullmatch(r"\s*(\w+)\s*=\s*(\w+)\s*", entry)
        if match is None or match.group(1) not in context.fields:
            raise context.fail(
                "E622", f"`arrays` entry \"{entry}\" does not map an array onto an observed "
                "variable",
                'write "variable = array"; observed variables: '
                + ", ".join(f"`{n}`" for n in context.fields),
                at=f"arrays[{entry}]",
            )  # fmt: skip
        mapping[match.group(1)] = match.group(2)
        entries[match.group(1)] = entry  # where an error about this variable's array points
    for name in context.fields:
        array = mapping.setdefault(name, name)
        if array not in names:
            raise context.fail(
                "E622",
                f"`{path}` has no array `{array}` for `{name}`",
                "its arrays: " + ", ".join(f"`{n}`" for n in names)
                + f'; map one onto it: `arrays = ["{name} = ARRAY"]`',
                at=f"arrays[{entries[name]}]" if name in entries else None,
            )  # fmt: skip
    return mapping


def _values(context: Context, name: str, array: np.ndarray, label: str, path: Path):
    """One variable's rows as a tensor, after checking shape and values against its field."""
    kind, shape, categories = field = context.fields[name]
    size = math.prod(shape)
    if array.ndim < 1 or math.prod(array.shape[1:]) != size:
        raise context.fail(
            "E623",
            f"array `{label}` in `{path}` has shape {list(array.shape)}; `{name}` "
            f"({describe_field(field)}) needs [N, {', '.join(map(str, shape))}]",
            f"declare `{name}` with the array's shape per row, {list(array.shape[1:])}",
        )
    if array.dtype.kind not in "biuf":
        raise context.fail(
            "E623", f"array `{label}` in `{path}` holds {array.dtype} values, not numbers",
            NPZ_HELP,
        )  # fmt: skip
    values = torch.from_numpy(np.ascontiguousarray(array)).reshape(len(array), *shape)
    if kind == "real":
        values = values.float()
        if not bool(torch.isfinite(values).all()):
            raise context.fail(
                "E626", f"array `{label}` in `{path}` holds values that are not finite",
                "fill or drop the rows with NaN or infinite values",
            )  # fmt: skip
        return values
    count = 2 if kind == "binary" else categories
    codes = values.double()
    bad = ((codes != codes.round()) | (codes < -1) | (codes >= count)).flatten()
    if bool(bad.any()):
        where = int(bad.nonzero()[0])
        value = codes.flatten()[where].item()
        allowed = "0 or 1" if kind == "binary" else f"integers 0..{count - 1}"
        raise context.fail(
            "E627",
            f"array `{label}` in `{path}`: element {where} is {value:g}, and `{name}` "
            f"({describe_field(field)}) takes {allowed} (-1: missing)",
            f"for values in [0, 1] declare `{name}` binary and add `transform {name}: "
            "binarize(threshold = 0.5)`, or declare it `real`"
            if kind == "binary"
            else f"declare `{name} : categorical(K)` with K above the largest value",
        )
    return values.long()


def load(context: Context):
    path = resolve_file(context, context.args["file"])
    arrays = _read(context, path)
    mapping = _mapping(context, sorted(arrays), path)
    values = {name: _values(context, name, arrays[a], a, path) for name, a in mapping.items()}
    rows = {name: count_rows({name: v}) for name, v in values.items()}
    if len(set(rows.values())) > 1:
        raise context.fail(
            "E623", f"the arrays of `{path}` have different numbers of rows: "
            + ", ".join(f"`{mapping[n]}` {r:,}" for n, r in rows.items()),
            "every array holds one row per example",
        )  # fmt: skip
    tests = {name: f"{a}_test" for name, a in mapping.items()}
    if all(t in arrays for t in tests.values()):
        train = values
        test = {name: _values(context, name, arrays[t], t, path) for name, t in tests.items()}
        how = "test split from the `_test` arrays"
    else:
        count = count_rows(values)
        train, test = split_rows(context, values, round(context.args["test"] * count), path)
        how = f"test = {context.args['test']:g} of the rows"
    listing = ", ".join(f"{n} <- `{a}`" for n, a in mapping.items())
    description = (
        f"npz {path.name}: {count_rows(train):,} train, {count_rows(test):,} test examples "
        f"({how}); {listing}"
    )
    return description, train, test, None, None
