"""digits: scikit-learn's 1,797 handwritten digits (8 x 8, 17 grey levels 0..16), a small image set.

In: `test` (a count of test images, drawn with the seed) and the spec's folder (unused: the data is
the csv.gz inside the installed scikit-learn, read without importing it). Out: images x
[N, 1, 8, 8] in [0, 1] (level / 16) and the digit y [N] (int64, 0..9). The UCI optdigits test
set: 64 dimensions instead of MNIST's 784, so a flow or an EBM on it trains to convergence on a
laptop core in minutes (paper 001's Table 2 experiment at CPU scale, `specs/digits_nice.ebm`).
Pair it with `dequantize(levels = 17)`.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch

from ebmspec.runtime.data.base import Context, count_rows, package_file, split_rows, unreadable
from ebmspec.semantic.data import Field
from ebmspec.semantic.registry.signatures import Param as P
from ebmspec.semantic.registry.signatures import Signature

# `data digits(...)`: the registry row the checker binds the arguments to; `fields` says what it
# provides. Both are declared in `semantic.registry.DATASETS` by `runtime.data`.
SIGNATURE = Signature(
    "digits",
    (P("test", "posint", 297),),
    "scikit-learn's 1,797 handwritten digits (8 x 8, 17 grey levels), read from the installed "
    "package; `test` images drawn with the seed",
)

DIGITS_FILE = "datasets/data/digits.csv.gz"
DIGITS_INSTALL = 'install it with `pip install "ebmspec[datasets]"` (scikit-learn)'


def fields(args: dict) -> dict[str, Field]:
    """The variables this dataset provides (kind, shape, categories), given its arguments."""
    return {"x": ("real", (1, 8, 8), None), "y": ("categorical", (), 10)}


def read_digits(
    context: Context, what: str, install: str
) -> tuple[torch.Tensor, torch.Tensor, Path]:
    """scikit-learn's digits as images [1797, 1, 8, 8] in [0, 1], labels [1797] (int64) and the
    file read. `what` / `install` word the error when scikit-learn or its file is missing."""
    path = package_file(context, "sklearn", DIGITS_FILE, what, install)
    try:
        lines = gzip.decompress(path.read_bytes()).decode().splitlines()
        table = np.loadtxt(lines, delimiter=",", dtype=np.float32, ndmin=2)
    except (OSError, ValueError, EOFError) as error:
        raise unreadable(context, path, error, "reinstall scikit-learn") from None
    if table.shape[1] != 65:
        raise unreadable(context, path, "rows are not 64 pixels and a label", "reinstall it")
    images = torch.from_numpy(table[:, :64].copy()).reshape(-1, 1, 8, 8) / 16.0
    return images.clamp(0, 1), torch.from_numpy(table[:, 64].astype(np.int64)), path


def load(context: Context):
    images, labels, path = read_digits(context, "the `digits` dataset", DIGITS_INSTALL)
    train, test = split_rows(context, {"x": images, "y": labels}, context.args["test"], path)
    description = (
        f"digits: scikit-learn's handwritten digits, 8x8, 17 levels ({count_rows(train):,} "
        f"train, {count_rows(test):,} test, test split drawn with the seed)"
    )
    return description, train, test, None, None
