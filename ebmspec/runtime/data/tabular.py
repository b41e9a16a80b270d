"""csv: a header row, `features` numeric columns and an optional integer label column."""

from __future__ import annotations

import csv
import difflib
import math
from pathlib import Path

import torch

from ebmspec.runtime.data.base import (
    Context,
    count_rows,
    resolve_file,
    split_rows,
    unreadable,
)
from ebmspec.semantic.data import Field
from ebmspec.semantic.registry.signatures import Param as P
from ebmspec.semantic.registry.signatures import Signature

# `data csv(...)`: the registry row the checker binds the arguments to; `fields` says what it
# provides. Both are declared in `semantic.registry.DATASETS` by `runtime.data`.
SIGNATURE = Signature(
    "csv",
    (
        P("file", "string"),
        P("features", "posint"),
        P("label", "string?", None),
        P("classes", "posint?", None),
        P("test", "prob", 0.1),
        P("holdout", "nonneg_ints", ()),
    ),
    "tabular data: `features` numeric columns and an optional integer label column; "
    "`holdout`: label values removed from training, their test rows an OOD set (`heldout`)",
)


def fields(args: dict) -> dict[str, Field]:
    """The variables this dataset provides (kind, shape, categories), given its arguments."""
    provided = {"x": ("real", (args["features"],), None)}
    if args["label"] is not None:
        provided["y"] = ("categorical", (), args["classes"] or 2)
    return provided


def problem(args: dict) -> tuple[str, str, str] | None:
    """A labelled csv needs its number of classes (E105)."""
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
    columns, label_index = _csv_columns(context, header, path)
    features, labels = [], []
    for number, (line, row) in enumerate(rows[1:], start=1):
        where = f"line {line} (data row {number})"
        if len(row) != len(header):
            raise context.fail(
                "E625",
                f"`{path}` {where} has {len(row)} cells, the header has {len(header)}",
                "every row needs one cell per header column",
            )
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
