"""toy: 8 Gaussians with 3 binary attributes (paper 004, section 6.1; docs/design/ALGORITHMS.md
2.7), a fresh batch every iteration.
"""

from __future__ import annotations

import math

import torch

from ebmspec.runtime.data.base import (
    Context,
    Tensors,
)
from ebmspec.runtime.seeding import stream
from ebmspec.semantic.data import Field
from ebmspec.semantic.registry.signatures import Param as P
from ebmspec.semantic.registry.signatures import Signature

# `data toy(...)`: the registry row the checker binds the arguments to; `fields` says what it
# provides. Both are declared in `semantic.registry.DATASETS` by `runtime.data`.
# Every training batch is drawn afresh from the generative process (no fixed rows).
DRAWN = True

SIGNATURE = Signature(
    "toy",
    (
        P("modes", "posint", 8),
        P("attributes", "string", "multi", choices=("multi", "hierarch")),
        P("std", "posfloat", 0.5),
        P("missing", "bool", False),
        P("test", "posint", 2000),
    ),
    "8 Gaussians on a circle with 3 binary attributes (paper 004, section 6.1)",
)


def fields(args: dict) -> dict[str, Field]:
    """The variables this dataset provides (kind, shape, categories), given its arguments."""
    return {"x": ("real", (2,), None), "y": ("categorical", (3,), 2)}


TOY_TRAIN_SIZE = 100_000
_S = 1 / math.sqrt(2)
# Paper 004 / docs/design/ALGORITHMS.md 2.7: the 8 centres in this order (attributes depend on it).
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


def load(context: Context):
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
    train = draw(TOY_TRAIN_SIZE, stream(context.seed, "dataset_train"))
    # Test labels are always complete: accuracy is measured on every attribute.
    test_generator = stream(context.seed, "dataset_test")
    test = _toy_draw(args["test"], test_generator, std, attributes, False)
    description = (
        f"toy: 8 Gaussians (std {std:g}) with 3 binary attributes ({attributes}"
        + (", partly missing" if missing else "")
        + f"), a fresh batch every step, {args['test']:,} test points"
    )
    return description, train, test, draw, TOY_TRAIN_SIZE
