"""`metrics.csv`: the training log as a table, for a spreadsheet or `pandas.read_csv`.

In: the entries of `metrics.jsonl` (one per logged window, per evaluation and per rollback). Out:
one row per entry, `flatten`ed to `section/key` columns (`accept/gwg(y)`, `eval/accuracy_energy`,
`eval/per_attribute/ece/y[0]`); the columns are the union of the keys seen, `iteration` first,
then in order of first appearance. Columns can appear late (the first evaluation), so the file is
rewritten whole from `metrics.jsonl` rather than appended to: it is small (one row per window).
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from ebmspec.runtime.io import checkpoint as ckpt

# Lists that are not metrics: the reliability diagram's bins and the names of a prediction line
# (its numbers are the columns beside them).
SKIPPED = frozenset({"reliability", "targets", "given"})

Scalar = float | int | str | bool | None


def flatten(value: dict, prefix: str = "") -> dict[str, Scalar]:
    """`{"a": {"b": 1}, "c": 2}` -> `{"a/b": 1, "c": 2}`. Lists are left out except several
    prediction lines of an evaluation (`predictions/1/...`): a single line is the evaluation's top
    level already."""
    flat: dict[str, Scalar] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if key in SKIPPED:
            continue
        if isinstance(item, dict):
            flat.update(flatten(item, name + "/"))
        elif isinstance(item, list):
            if key == "predictions" and len(item) > 1:
                for index, line in enumerate(item):
                    flat.update(flatten(line, f"{name}/{index}/"))
        else:
            flat[name] = item
    return flat


def entry_row(entry: dict) -> dict[str, Scalar]:
    """One log entry as a row: an evaluation's numbers under `eval/`; its own iteration and
    training time are the row's."""
    if "eval" in entry:
        result = {k: v for k, v in entry["eval"].items() if k not in ("iteration", "train_seconds")}
        return {"iteration": entry["iteration"], **flatten(result, "eval/")}
    return flatten(entry)


def _cell(value: Scalar) -> Scalar:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return value


def read_entries(log: Path) -> list[dict]:
    """The entries of `metrics.jsonl`, up to a line cut short by a kill."""
    entries = []
    if not log.exists():
        return entries
    for line in log.read_text(encoding="utf-8").splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return entries


def write_csv(log: Path, table: Path) -> None:
    """`table` rewritten from the entries of `log` (atomically: a reader never sees half)."""
    rows = [entry_row(entry) for entry in read_entries(log)]
    columns = ["iteration"]
    seen = set(columns)
    for row in rows:
        for key in row:
            if key not in seen:
                seen.add(key)
                columns.append(key)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _cell(value) for key, value in row.items()})
    ckpt.write_atomically(table, text.getvalue())
