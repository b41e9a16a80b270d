"""Prediction methods and `evaluate { }` reports.

In: nothing (static tables). Out: the rows the checker looks names up in.
"""

from __future__ import annotations

from ebmspec.semantic.registry.signatures import Param as P
from ebmspec.semantic.registry.signatures import Signature, table

# Generated OOD sets; `heldout`: the test rows of the classes a `data ...(holdout = [...])` line
# removes from training; `sklearn_digits`: scikit-learn's 1,797 8 x 8 digits, resized (a second
# dataset for image models, read from the installed scikit-learn).
OOD_SETS = ("noise", "constant", "uniform", "heldout", "sklearn_digits")
# Paper 002's likelihood tests, as threshold-free scores s'(x) (s = the `score`, S_train its
# values on training inputs): threshold s; typicality -|s - mean S_train|; quantile
# min(F(s), 1 - F(s)), F the empirical CDF of S_train (the two-tailed quantile test).
OOD_TESTS = ("threshold", "typicality", "quantile")
PREDICT_METHODS = table(
    Signature("energy", (), "argmax of f over all enumerated target configurations"),
    Signature(
        "samples",
        (P("chains", "posint", 10), P("steps", "posint", 200), P("sampler", "sampler?", None)),
        "majority vote of `chains` chains of `steps` sweeps from the init distribution",
    ),
)
REPORTS = {
    "calibration": table(Signature("ece", (P("bins", "posint", 20),), "top-label ECE")),
    "samples": table(
        Signature(
            "grid",
            (
                P("rows", "variable"),
                P("cols", "variable?", None),
                P("steps", "posint", 200),
                P("sampler", "sampler?", None),
            ),
            "conditional sample grid, one row (column) per value",
        ),
        Signature(
            "accuracy",
            (
                P("chains", "posint", 8),
                P("steps", "posint", 200),
                P("sampler", "sampler?", None),
            ),
            "conditional samples of every value of each predicted variable from the init "
            "distribution, scored by the model's energy-based prediction, and their statistics "
            "against the data",
        ),
    ),
    "ood": table(
        Signature(
            "auroc",
            (
                P("score", "choice", "px", choices=("px", "py", "pxgrad")),
                P("against", "choices", ("noise",), choices=OOD_SETS),
                P("test", "choice", "threshold", choices=OOD_TESTS),
            ),
            "AUROC of an OOD score, in-distribution test set vs generated sets",
        ),
        Signature(
            "auc_pr",
            (
                P("score", "choice", "px", choices=("px", "py", "pxgrad")),
                P("against", "choices", ("noise",), choices=OOD_SETS),
                P("test", "choice", "threshold", choices=OOD_TESTS),
            ),
            "AUC-PR with OOD as the positive class (paper 003 protocol)",
        ),
    ),
    "likelihood": table(
        Signature(
            "ais",
            (
                P("temperatures", "posint", 1000),
                P("runs", "posint", 10),
                P("chains", "posint", 50),
                P("reverse", "bool", True),
                P("sampler", "sampler?", None),
            ),
            "log Z and the test log-likelihood by annealed importance sampling from the init "
            "distribution (`runs` independent runs of `chains` chains, one sweep of the "
            "sampler per temperature), and by reverse AIS from the test data",
        ),
    ),
    "density": table(
        Signature(
            "plot",
            (P("variable", "variable"), P("bins", "posint", 100)),
            "density and samples of a 2-D real variable",
        )
    ),
}
