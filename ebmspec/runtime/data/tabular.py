"""csv: a header row and one example per row, mapped onto the spec's variables by column name.

Without `features`, every observed variable takes its columns by name: a scalar `a` the column
`a`; an array `v` of n elements the columns `v0..v{n-1}` (or `v1..vn`, `v_0`, `v[0]`, ...), or
the range `columns = ["v = first..last"]` names (header order, inclusive); `"a = name"` renames
one column. Cells: real -> finite numbers, binary -> 0/1, categorical(K) -> integers 0..K-1;
binary and categorical cells may be empty or -1 (missing). With `features = n` (the older form):
the first n non-label columns are `x` and the `label` column (with `classes`) is `y`.
"""

from __future__ import annotations

import csv
import difflib
import math
import re
from pathlib import Path

import torch

from ebmspec.runtime.data.base import (
    Context,
    count_rows,
    resolve_file,
    split_rows,
    unreadable,
)
from ebmspec.semantic.data import Field, describe_field
from ebmspec.semantic.registry.signatures import Param as P
from ebmspec.semantic.registry.signatures import Signature

# `data csv(...)`: the registry row the checker binds the arguments to; `fields` says what it
# provides. Both are declared in `semantic.registry.DATASETS` by `runtime.data`.
SIGNATURE = Signature(
    "csv",
    (
        P("file", "string"),
        P("features", "posint?", None),
        P("label", "string?", None),
        P("classes", "posint?", None),
        P("test", "prob", 0.1),
        P("holdout", "nonneg_ints", ()),
        P("columns", "strings", ()),
    ),
    "tabular data, a header row: every observed variable takes the columns named after it "
    '(`v` or `v0`, `v1`, ...) or a range `columns = ["v = first..last"]` (real, binary 0/1 '
    "and categorical 0..K-1 cells; empty or -1 = missing label); or the older `features = n` "
    "numeric columns as `x` and an integer `label` column (`classes`) as `y`; `holdout`: "
    "label values removed from training, their test rows an OOD set (`heldout`)",
)


def fields(args: dict) -> dict[str, Field] | None:
    """The variables this dataset provides (kind, shape, categories), given its arguments; None
    when it maps columns onto the spec's variables by name (no `features`)."""
    if args["features"] is None:
        return None
    provided = {"x": ("real", (args["features"],), None)}
    if args["label"] is not None:
        provided["y"] = ("categorical", (), args["classes"] or 2)
    return provided


def problem(args: dict) -> tuple[str, str, str] | None:
    """A labelled csv needs its number of classes (E105); `label`/`classes` go with `features`,
    `columns` without (E105)."""
    if args["features"] is None and (args["label"] is not None or args["classes"] is not None):
        return (
            "E105",
            "`label` and `classes` go with `features`; without it the columns are mapped onto "
            "the variables by name",
            "drop `label`/`classes` and declare the label, e.g. `species : categorical(3)`, "
            'or map it: `columns = ["y = species"]`',
        )
    if args["features"] is not None and args["columns"]:
        return (
            "E105",
            "`columns` maps the csv onto the variables by name; `features` takes the first "
            "columns as `x`",
            "drop `features` (and `label`), and name every variable's columns",
        )
    if args["label"] is not None and args["classes"] is None:
        return (
            "E105",
            "a labelled csv dataset needs `classes`",
            "add `classes = K`, the number of label values",
        )
    return None


CSV_HELP = "a header row, then one example per row; features are numbers, labels integers"


def _csv_columns(context: Context, header: list[str], path: Path) -> tuple[list[int], int | None]:
    """Indices of the feature columns and of the label column (None without a label)."""
    features, label = context.args["features"], context.args["label"]
    label_index = None
    if label is not None:
        if label not in header:
            close = difflib.get_close_matches(label, header, n=1)
            raise context.fail(
                "E625",
                f"`{path}` has no column `{label}` for the label",
                (f"did you mean `{close[0]}`? " if close else "")
                + "its columns are "
                + ", ".join(f"`{h}`" for h in header),
                at="label",
            )
        label_index = header.index(label)
    others = [i for i in range(len(header)) if i != label_index]
    if len(others) < features:
        raise context.fail(
            "E625",
            f"`{path}` has {len(others)} feature columns"
            + (f" besides the label `{label}`" if label is not None else "")
            + f", fewer than features = {features}",
            f"set `features` to at most {len(others)}",
            at="features",
        )
    return others[:features], label_index


def _csv_number(context: Context, cell: str, where: str, name: str, path: Path) -> float:
    try:
        value = float(cell)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise context.fail(
            "E626",
            f"`{path}` {where}, column `{name}`: {cell.strip()!r} is not a finite number",
            "feature cells must be numbers; fill or drop the row",
        )
    return value


def _csv_label(context: Context, cell: str, where: str, name: str, path: Path) -> int:
    if cell.strip() in ("", "-1"):
        return -1  # a missing label
    value = _csv_number(context, cell, where, name, path)
    classes = context.args["classes"]
    if value != int(value) or not 0 <= value < classes:
        raise context.fail(
            "E627",
            f"`{path}` {where}, column `{name}`: label {cell.strip()!r} is not one of "
            f"0..{classes - 1}",
            "labels are integers 0..classes-1; leave the cell empty or write -1 when unknown",
        )
    return int(value)


_INDEXED = r"{}(?:_|\[)?(\d+)\]?"


def _named_columns(context: Context, header: list[str], path: Path) -> dict[str, list[int]]:
    """Each observed variable's column indices, by name (module docstring)."""
    named: dict[str, list[int]] = {}
    listing = ", ".join(f"`{h}`" for h in header)

    def index_of(column: str, entry: str) -> int:
        if column not in header:
            close = difflib.get_close_matches(column, header, n=1)
            raise context.fail(
                "E625", f"`{path}` has no column `{column}` (in `columns` entry \"{entry}\")",
                (f"did you mean `{close[0]}`? " if close else "") + f"its columns: {listing}",
                at=f"columns[{entry}]",
            )  # fmt: skip
        return header.index(column)

    for entry in context.args["columns"]:
        match = re.fullmatch(r"\s*(\w+)\s*=\s*([^.]+?)\s*(?:\.\.\s*(.+?)\s*)?", entry)
        if match is None or match.group(1) not in context.fields:
            raise context.fail(
                "E625", f"`columns` entry \"{entry}\" does not map a column range onto an "
                "observed variable",
                'write "variable = column" or "variable = first..last"; observed variables: '
                + ", ".join(f"`{n}`" for n in context.fields),
                at=f"columns[{entry}]",
            )  # fmt: skip
        name, first, last = match.groups()
        start, stop = index_of(first, entry), index_of(last or first, entry)
        if stop < start:
            raise context.fail(
                "E625", f"`columns` entry \"{entry}\": `{last}` comes before `{first}` in `{path}`",
                "a range runs from a column to one to its right",
                at=f"columns[{entry}]",
            )  # fmt: skip
        named[name] = list(range(start, stop + 1))
    for name, (_kind, shape, _) in context.fields.items():
        if name in named:
            continue
        pattern = re.compile(_INDEXED.format(re.escape(name)))
        indexed = sorted(
            (int(m.group(1)), i) for i, h in enumerate(header) if (m := pattern.fullmatch(h))
        )
        if not shape and name in header:
            named[name] = [header.index(name)]
        elif indexed:
            named[name] = [i for _, i in indexed]
        elif math.prod(shape) == 1 and name in header:
            named[name] = [header.index(name)]
        else:
            close = difflib.get_close_matches(name, header, n=1)
            raise context.fail(
                "E625",
                f"`{path}` has no column for `{name}` (no `{name}`, `{name}0`, `{name}_1`, ...)",
                (f"did you mean `{close[0]}`? " if close else "")
                + f'map it: `columns = ["{name} = first..last"]`; its columns: {listing}',
            )
    for name, columns in named.items():
        kind, shape, categories = context.fields[name]
        if len(columns) != math.prod(shape):
            described = describe_field((kind, shape, categories))
            raise context.fail(
                "E625",
                f"`{name}` ({described}) needs {math.prod(shape)} columns of `{path}`, and "
                f"{len(columns)} are mapped onto it ("
                + ", ".join(f"`{header[i]}`" for i in columns[:4])
                + (", ..." if len(columns) > 4 else "")
                + ")",
                f"declare `{name}` with {len(columns)} elements, or map exactly "
                f'{math.prod(shape)} columns: `columns = ["{name} = first..last"]`',
            )
    return named


def _cell(context: Context, cell: str, where: str, column: str, path: Path, field) -> float:
    """One cell of a by-name column: a real number, or a discrete code (-1 = missing)."""
    kind, _, categories = field
    if kind == "real":
        return _csv_number(context, cell, where, column, path)
    if cell.strip() in ("", "-1"):
        return -1
    value = _csv_number(context, cell, where, column, path)
    count = 2 if kind == "binary" else categories
    if value != int(value) or not 0 <= value < count:
        allowed = "0 or 1" if kind == "binary" else f"one of 0..{count - 1}"
        raise context.fail(
            "E627",
            f"`{path}` {where}, column `{column}`: {cell.strip()!r} is not {allowed}",
            "binary cells are 0 or 1: for real values declare the variable `binary` and add "
            "`transform NAME: binarize(threshold = 0.5)`, or declare it `real`"
            if kind == "binary"
            else f"categorical cells are integers 0..{count - 1}; leave the cell empty or write "
            "-1 when unknown, or declare more categories",
        )
    return value


def _check_width(context: Context, path: Path, where: str, row: list, header: list) -> None:
    if len(row) != len(header):
        raise context.fail(
            "E625",
            f"`{path}` {where} has {len(row)} cells, the header has {len(header)}",
            "every row needs one cell per header column",
        )


def _load_named(context: Context, path: Path, header: list[str], rows: list):
    """(values by variable, description) of a csv mapped onto the variables by name."""
    named = _named_columns(context, header, path)
    cells = {name: [] for name in named}
    for number, (line, row) in enumerate(rows, start=1):
        where = f"line {line} (data row {number})"
        _check_width(context, path, where, row, header)
        for name, columns in named.items():
            field = context.fields[name]
            cells[name].append([_cell(context, row[i], where, header[i], path, field)
                                for i in columns])  # fmt: skip
    values = {}
    for name, table in cells.items():
        kind, shape, _ = context.fields[name]
        dtype = torch.float32 if kind == "real" else torch.int64
        values[name] = torch.tensor(table, dtype=dtype).reshape(len(rows), *shape)
    parts = []
    for name, columns in named.items():
        span = header[columns[0]] + (f"..{header[columns[-1]]}" if len(columns) > 1 else "")
        parts.append(f"{name} <- {span}")
    return values, "; ".join(parts)


def load(context: Context):
    args = context.args
    path = resolve_file(context, args["file"])
    try:
        with path.open(newline="", encoding="utf-8") as stream:
            rows = list(csv.reader(stream))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise unreadable(context, path, error, CSV_HELP) from None
    # (line, cells) of the non-blank rows; the line counts the header as line 1
    rows = [(line, row) for line, row in enumerate(rows, start=1) if any(c.strip() for c in row)]
    if len(rows) < 2:
        raise context.fail(
            "E630", f"`{path}` holds no examples (a header row and no data rows)", CSV_HELP
        )
    header = [cell.strip() for cell in rows[0][1]]
    if args["features"] is None:
        values, mapping = _load_named(context, path, header, rows[1:])
        count = len(rows) - 1
        train, test = split_rows(context, values, round(args["test"] * count), path)
        description = (
            f"csv {path.name}: {count:,} rows ({count_rows(train):,} train, "
            f"{count_rows(test):,} test); {mapping}"
        )
        return description, train, test, None, None
    columns, label_index = _csv_columns(context, header, path)
    features, labels = [], []
    for number, (line, row) in enumerate(rows[1:], start=1):
        where = f"line {line} (data row {number})"
        _check_width(context, path, where, row, header)
        features.append([_csv_number(context, row[i], where, header[i], path) for i in columns])
        if label_index is not None:
            name = header[label_index]
            labels.append(_csv_label(context, row[label_index], where, name, path))
    values = {"x": torch.tensor(features, dtype=torch.float32)}
    if label_index is not None:
        values["y"] = torch.tensor(labels, dtype=torch.int64)
    n_test = round(args["test"] * len(features))
    train, test = split_rows(context, values, n_test, path)
    names = ", ".join(header[i] for i in columns[:4]) + (", ..." if len(columns) > 4 else "")
    description = (
        f"csv {path.name}: {len(features):,} rows "
        f"({count_rows(train):,} train, {count_rows(test):,} test), "
        f"{len(columns)} features ({names})"
        + (
            f", label `{args['label']}` with {args['classes']} classes"
            if label_index is not None
            else ""
        )
    )
    return description, train, test, None, None
