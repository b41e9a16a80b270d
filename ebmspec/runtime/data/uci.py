"""uci: small UCI tabular datasets shipped (as csv files) inside the optional package mlxtend.

In: `name` ("wine": 178 wines, 13 chemical measurements, 3 cultivars; "iris": 150 flowers, 4
measurements, 3 species), `test` (a fraction) and the seed of the fixed split. Out: features x
[N, features] as float32 and the class y [N] as int64, split into train and test rows. Read from
mlxtend's data folder without importing mlxtend (which would pull in scikit-learn and pandas).
"""

from __future__ import annotations

import gzip

import numpy as np
import torch

from ebmspec.runtime.data.base import (
    Context,
    count_rows,
    package_file,
    split_rows,
    unreadable,
)
from ebmspec.semantic.data import Field
from ebmspec.semantic.registry.signatures import Param as P
from ebmspec.semantic.registry.signatures import Signature

# Small UCI tables shipped inside mlxtend: name -> (features, classes).
UCI_TABLES = {"wine": (13, 3), "iris": (4, 3)}

# `data uci(...)`: the registry row the checker binds the arguments to; `fields` says what it
# provides. Both are declared in `semantic.registry.DATASETS` by `runtime.data`.
SIGNATURE = Signature(
    "uci",
    (
        P("name", "string", "wine", choices=("wine", "iris")),
        P("test", "prob", 0.3),
        P("holdout", "nonneg_ints", ()),
    ),
    "a small UCI table shipped inside mlxtend: `wine` (178 x 13 features, 3 classes) or "
    "`iris` (150 x 4, 3 classes); `holdout`: classes removed from training, their test rows "
    "an OOD set (`heldout`)",
)


def fields(args: dict) -> dict[str, Field]:
    """The variables this dataset provides (kind, shape, categories), given its arguments."""
    features, classes = UCI_TABLES[args["name"]]
    return {"x": ("real", (features,), None), "y": ("categorical", (), classes)}


# name -> (file inside mlxtend/data/data, what the rows are); shapes in `UCI_TABLES`
FILES = {
    "wine": ("wine.csv", "178 wines, 13 chemical measurements, 3 cultivars"),
    "iris": ("iris.csv.gz", "150 iris flowers, 4 measurements, 3 species"),
}


def load(context: Context):
    name = context.args["name"]
    (file, what), (features, _) = FILES[name], UCI_TABLES[name]
    path = package_file(
        context, "mlxtend", f"data/data/{file}", f"the `{name}` table",
        'install it with `pip install "ebmspec[datasets]"`, or load your own copy with '
        '`data csv(file = "...", features = ..., label = "...", classes = ...)`',
    )  # fmt: skip
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        table = np.loadtxt(raw.decode().splitlines(), delimiter=",", dtype=np.float64, ndmin=2)
    except (OSError, ValueError, EOFError) as error:
        raise unreadable(context, path, error, "reinstall mlxtend") from None
    if table.shape[1] != features + 1:
        raise unreadable(context, path, f"{table.shape[1]} columns", "reinstall mlxtend")
    values = {
        "x": torch.tensor(table[:, :features], dtype=torch.float32),
        "y": torch.tensor(table[:, features], dtype=torch.int64),
    }
    n_test = round(context.args["test"] * count_rows(values))
    train, test = split_rows(context, values, n_test, path)
    description = (
        f"UCI {name} (mlxtend): {what} ({count_rows(train)} train, {count_rows(test)} test)"
    )
    return description, train, test, None, None
