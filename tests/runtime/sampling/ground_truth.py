"""Tiny models with exact ground truth, and the statistics the sampler tests compare against them.

In: a model name from `SPECS`, the kernel of each sampler block and a conditioning: a list of
*groups*, each a clamp `{name: value}` or `{name: (value, clamped_mask)}` shared by an equal share
of the chains. Out: the compiled program and its energy with hand-set parameters, and per group the
exact probability of every *cell* (a discrete configuration; in the mixed models jointly with a bin
of the real variable, so the table also checks how x and y go together) and the exact mean and
variance of the real variable.

    ising  s in {0,1}^10, f = quadratic(s) with couplings and biases ~ N(0, 1): 2^10 states.
    potts  y in {0..4}^4, f = quadratic(flatten(onehot(y))), entries ~ N(0, 0.5^2): 5^4 states.
    hybrid s in {0,1}^4 and y in {0..2}^2 in one block, f = quadratic(concat(s, onehot y)),
           entries ~ N(0, 0.5^2): 2^4 x 3^2 states (one GWG softmax over both kinds).
    mixed  a in 3, b in 4 categories, x in R^2: f = quadratic(onehot a, onehot b)
           + log N(x; m(a, b), SIGMA^2 I) with m linear in the one-hots. Closed form: p(a, b) is
           proportional to exp(quadratic) (the Gaussian integrates to 1), x | a, b ~ N(m, SIGMA^2).
    box    x in [-2, 2]^2, y in 4 categories, f = mlp(concat(x, onehot y)) (one tanh layer of 16).
           Truth by the midpoint rule on a 240 x 240 grid (smooth f: the error is ~1e-5).
    featbox the box, with x first through a feature network h = mlp(x) (64 x 64 tanh, 8 out);
           built with the planner's size threshold lifted, so that moves of y cache h and its
           share of the head's first layer (passes/plan_cache.py) and the cached kernels are
           checked against the truth.

Cells: the Ising / Potts / hybrid state (1024 / 625 / 144), (a, b, 4 x 4 bins of x) in the
mixed model (192), (y, 6 x 6 bins of x) in the box model (144).

Samples are the final states of independent chains, so an exact kernel that has mixed yields
i.i.d. draws and the i.i.d. statistics below apply to it.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import torch

from ebmspec.api import compile_spec
from ebmspec.passes import plan_cache
from ebmspec.runtime.model.energy import lower_energy
from ebmspec.source import Source

SIGMA = 0.8  # std of the mixed model's Gaussian, x | a, b ~ N(m(a, b), SIGMA^2 I)
# The lattice model: 16 components at m(a, b) = (3a - 4.5, 3b - 4.5), 10 standard deviations
# apart, so that block moves almost never change component (GWG + MALA: TV ~20 x the floor).
LATTICE_SIGMA = 0.3
LATTICE_AXIS = (-4.5, -1.5, 1.5, 4.5)
BOX = 2.0  # the box model's x lies in [-BOX, BOX]^2
GRID = 240  # midpoints per axis for the box model's integrals (a multiple of its 6 bins)
# Bins of x that the cells resolve: 4 x 4 in the mixed model, 6 x 6 equal ones in the box. Many
# cells keep the TV's relative spread small (~0.75 / sqrt(effective cells)): 1.5 x floor is robust.
MIXED_EDGES = (-1.0, 0.0, 1.0)
BOX_EDGES = tuple(-BOX + k * 2 * BOX / 6 for k in range(1, 6))
TV_FACTOR = 1.5  # TV of the cell frequencies must stay below 1.5 x the i.i.d. Monte-Carlo floor
FALSE_ALARM = 1e-4  # per case: chance that an exact sampler fails one of its moment checks


@dataclass(frozen=True)
class Spec:
    """The text of one tiny model, split so that the sampler block can be filled in per case."""

    variables: str
    energy: str
    inits: tuple[str, ...]
    discrete: str  # the names a discrete block updates ("" when there are none)
    real: str  # the names a continuous block updates ("" when there are none)


SPECS = {
    "ising": Spec("s : binary[10]", "return quadratic(s)", ("s ~ uniform",), "s", ""),
    "potts": Spec(
        "y : categorical(5)[4]", "return quadratic(flatten(onehot(y)))", ("y ~ uniform",), "y", ""
    ),
    "hybrid": Spec(
        "s : binary[4]\n  y : categorical(3)[2]",
        "return quadratic(concat(s, flatten(onehot(y))))",
        ("s, y ~ uniform",),
        "s, y",
        "",
    ),
    "mixed": Spec(
        "a : categorical(3)\n  b : categorical(4)\n  x : real[2]",
        "h = concat(onehot(a), onehot(b))\n  return quadratic(h)"
        f" + gaussian(x, mean = linear(h, out = 2, bias = false), std = {SIGMA})",
        ("a, b ~ uniform", "x ~ normal"),
        "a, b",
        "x",
    ),
    "lattice": Spec(
        "a : categorical(4)\n  b : categorical(4)\n  x : real[2]",
        "h = concat(onehot(a), onehot(b))\n  return quadratic(h)"
        f" + gaussian(x, mean = linear(h, out = 2, bias = false), std = {LATTICE_SIGMA})",
        ("a, b ~ uniform", "x ~ normal(std = 3)"),
        "a, b",
        "x",
    ),
    "box": Spec(
        f"x : real[2] in [{-BOX}, {BOX}]\n  y : categorical(4)",
        "return mlp(concat(x, onehot(y)), hidden = [16], act = tanh)",
        ("x ~ uniform", "y ~ uniform"),
        "y",
        "x",
    ),
    "featbox": Spec(
        f"x : real[2] in [{-BOX}, {BOX}]\n  y : categorical(4)",
        "h = mlp(x, hidden = [64, 64], out = 8, act = tanh)\n"
        "  return mlp(concat(h, onehot(y)), hidden = [16], act = tanh)",
        ("x ~ uniform", "y ~ uniform"),
        "y",
        "x",
    ),
}

# Parameter scales, by name in `model.named_parameters()`: entries ~ N(0, scale^2).
SCALES = {
    "ising": {"weight": 1.0, "bias": 1.0},
    "potts": {"weight": 0.5, "bias": 0.5},
    "hybrid": {"weight": 0.5, "bias": 0.5},
    "mixed": {
        "return_quadratic.weight": 0.8,
        "return_quadratic.bias": 0.5,
        "return_linear.net.0.weight": 0.8,
    },
    "lattice": {
        "return_quadratic.weight": 0.6,
        "return_quadratic.bias": 0.6,
        "return_linear.net.0.weight": 0.0,  # set to the lattice in `build`
    },
    "box": {
        "net.0.weight": 1.5,
        "net.0.bias": 1.0,
        "net.2.weight": 0.6,
        "net.2.bias": 0.0,
    },
    "featbox": {
        "h.net.0.weight": 1.0,
        "h.net.0.bias": 0.5,
        "h.net.2.weight": 0.16,
        "h.net.2.bias": 0.0,
        "h.net.4.weight": 0.12,
        "h.net.4.bias": 0.0,
        "return.net.0.weight": 0.9,
        "return.net.0.bias": 1.0,
        "return.net.2.weight": 0.35,
        "return.net.2.bias": 0.0,
    },
}


def program_text(model: str, discrete: str | None, real: str | None, sweeps: int) -> str:
    """The spec of `model` with one block per kind, e.g. `update a, b with gwg(flips = 3)`; a
    `jump` block updates both kinds (`update a, b, x with jump()`)."""
    spec = SPECS[model]
    lines = [f"init {init}" for init in spec.inits]
    if discrete:
        names = f"{spec.discrete}, {spec.real}" if discrete.startswith("jump") else spec.discrete
        lines.append(f"update {names} with {discrete}")
    if real:
        lines.append(f"update {spec.real} with {real}")
    sampler = "\n  ".join([*lines, f"sweeps = {sweeps}"])
    return (
        f"model {model}\n\nvariables {{\n  {spec.variables}\n}}\n\n"
        f"energy {{\n  {spec.energy}\n}}\n\nsampler main {{\n  {sampler}\n}}\n"
    )


def build(model: str, discrete: str | None, real: str | None, sweeps: int):
    """(program, energy module) with the hand-set parameters of `model` (seeded, reproducible)."""
    program = compile_spec(Source(f"{model}.ebm", program_text(model, discrete, real, sweeps)))
    threshold = plan_cache.MIN_ROOT_MACS
    if model == "featbox":  # cache however small the network (the plans are made here)
        plan_cache.MIN_ROOT_MACS = 0
    try:
        energy = lower_energy(program, seed=0)
    finally:
        plan_cache.MIN_ROOT_MACS = threshold
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, parameter in energy.named_parameters():
            scale = next(s for key, s in SCALES[model].items() if name.endswith(key))
            noise = torch.randn(parameter.shape, generator=generator)
            square = parameter.dim() == 2 and parameter.shape[0] == parameter.shape[1]
            if square and model != "featbox":  # featbox's square layer is a feature map
                noise = (noise + noise.t()) / math.sqrt(2)  # symmetric couplings keep their scale
            parameter.copy_(scale * noise)
        if model == "lattice":  # m(a, b) = (axis[a], axis[b])
            weight = energy.blocks["return_linear"].net[0].weight  # [2, 8]
            weight.zero_()
            weight[0, :4] = torch.tensor(LATTICE_AXIS)
            weight[1, 4:] = torch.tensor(LATTICE_AXIS)
    return program, energy


# ---- cells ------------------------------------------------------------------------------------


def _bins(x: torch.Tensor, edges: tuple[float, ...]) -> torch.Tensor:
    """Per coordinate, the index of the interval between `edges` that x falls in."""
    return torch.bucketize(x, torch.tensor(edges, dtype=x.dtype), right=True)


def cells(model: str, values: dict) -> torch.Tensor:
    """[B] cell index of every chain: the discrete configuration (site i = digit i, least
    significant first), in the mixed models times the bin of x (first coordinate major)."""
    if model == "ising":
        return (values["s"].long() * (1 << torch.arange(10))).sum(1)
    if model == "potts":
        return (values["y"].argmax(-1) * 5 ** torch.arange(4)).sum(1)
    if model == "hybrid":
        bits = (values["s"].long() * (1 << torch.arange(4))).sum(1)
        return bits + 16 * (values["y"].argmax(-1) * 3 ** torch.arange(2)).sum(1)
    if model == "mixed":
        ab = values["a"].argmax(-1) * 4 + values["b"].argmax(-1)
        bins = _bins(values["x"], MIXED_EDGES)
        return ab * 16 + bins[:, 0] * 4 + bins[:, 1]
    if model == "lattice":  # x binned at the lattice's coordinates: 5 bins per axis
        ab = values["a"].argmax(-1) * 4 + values["b"].argmax(-1)
        bins = _bins(values["x"], LATTICE_AXIS)
        return ab * 25 + bins[:, 0] * 5 + bins[:, 1]
    bins = _bins(values["x"], BOX_EDGES)
    return values["y"].argmax(-1) * 36 + bins[:, 0] * 6 + bins[:, 1]


@dataclass(frozen=True)
class Truth:
    """Exact law of one group: cell probabilities [C]; mean and variance [2] of the real variable
    (None when there is none or it is clamped)."""

    probs: np.ndarray
    mean: np.ndarray | None = None
    var: np.ndarray | None = None


def _states(sites: int, values: int) -> torch.Tensor:
    """Every configuration of `sites` sites with `values` values each, [values**sites, sites],
    in the order of `cells` (site i is digit i, least significant first)."""
    index = torch.arange(values**sites).unsqueeze(1)
    return (index // values ** torch.arange(sites)) % values


def _consistent(states: torch.Tensor, clamp) -> torch.Tensor:
    """[S] True where a state agrees with a (value, mask) or whole-value clamp (site codes)."""
    if clamp is None:
        return torch.ones(states.shape[0], dtype=torch.bool)
    value, mask = clamp if isinstance(clamp, tuple) else (clamp, None)
    value = torch.as_tensor(value)
    codes = value.argmax(-1) if value.dim() > 1 else value.long()  # one-hot or 0/1 per site
    mask = torch.ones_like(codes, dtype=torch.bool) if mask is None else torch.as_tensor(mask)
    return (states[:, mask] == codes[mask]).all(1)


def truth(model: str, energy, clamp: dict, langevin: tuple[float, float] | None = None) -> Truth:
    """Exact law of the free variables given `clamp`. `langevin=(step, noise)` replaces, in the
    mixed model, the Gaussian's variance by the stationary variance of unadjusted Langevin
    (`langevin_variance`), which is the exact law of that chain when a and b are clamped."""
    f64 = copy.deepcopy(energy).double().cpu()
    with torch.no_grad():
        if model in ("ising", "potts"):
            return _enumerated(model, f64, clamp)
        if model == "hybrid":
            return _hybrid(f64, clamp)
        if model == "mixed":
            return _mixed(f64, clamp, langevin)
        if model == "lattice":
            return _mixed(f64, clamp, None, (4, 4), LATTICE_SIGMA, LATTICE_AXIS)
        return _box(f64, clamp)


def _enumerated(model: str, energy, clamp: dict) -> Truth:
    name, sites, values = ("s", 10, 2) if model == "ising" else ("y", 4, 5)
    states = _states(sites, values)
    inputs = states.double() if values == 2 else torch.nn.functional.one_hot(states).double()
    f = energy({name: inputs})
    f = f.masked_fill(~_consistent(states, clamp.get(name)), -math.inf)
    return Truth(torch.softmax(f, 0).numpy())


def _hybrid(energy, clamp: dict) -> Truth:
    bits = _states(4, 2).repeat(9, 1)  # s varies fastest: row = s + 16 * y, as in `cells`
    codes = _states(2, 3).repeat_interleave(16, 0)
    f = energy({"s": bits.double(), "y": torch.nn.functional.one_hot(codes).double()})
    keep = _consistent(bits, clamp.get("s")) & _consistent(codes, clamp.get("y"))
    return Truth(torch.softmax(f.masked_fill(~keep, -math.inf), 0).numpy())


def langevin_variance(step: float, noise: float, var: float) -> float:
    """Stationary variance of x <- x + step * d/dx log N(x; m, var) + noise * xi: the AR(1) chain
    x <- (1 - c) x + c m + noise * xi with c = step / var, whose variance v solves
    v = (1 - c)^2 v + noise^2, so v = noise^2 / (1 - (1 - c)^2) (needs 0 < c < 2). With the
    textbook noise^2 = 2 step this is var / (1 - step / (2 var)): the bias is O(step)."""
    c = step / var
    return noise**2 / (1 - (1 - c) ** 2)


def _normal_cdf(z: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1 + torch.erf(z / math.sqrt(2)))


def _mixed(energy, clamp: dict, langevin, counts=(3, 4), sigma=SIGMA, edges=MIXED_EDGES) -> Truth:
    """The mixed model (and the lattice: `counts` values of a and b, std `sigma`, x binned at
    `edges` per axis)."""
    ab = torch.stack(
        torch.meshgrid(torch.arange(counts[0]), torch.arange(counts[1]), indexing="ij"), -1
    )
    configs, bins_per_axis = counts[0] * counts[1], len(edges) + 1
    ab = ab.reshape(configs, 2)  # (a, b) in cell order a * 4 + b
    onehot_a = torch.nn.functional.one_hot(ab[:, 0], counts[0]).double()
    onehot_b = torch.nn.functional.one_hot(ab[:, 1], counts[1]).double()
    h = torch.cat([onehot_a, onehot_b], 1)
    means = energy.blocks["return_linear"](h)  # [configs, 2] m(a, b)
    var = sigma**2 if langevin is None else langevin_variance(*langevin, sigma**2)
    keep = torch.ones(configs, dtype=torch.bool)
    for index, name in enumerate("ab"):
        if name in clamp:
            keep &= ab[:, index] == torch.as_tensor(clamp[name]).argmax(-1)
    if "x" in clamp:
        # p(a, b | x) is proportional to exp f(a, b, x); x sits in one bin.
        x = torch.as_tensor(clamp["x"], dtype=torch.float64).expand(configs, 2)
        f = energy({"a": onehot_a, "b": onehot_b, "x": x}).masked_fill(~keep, -math.inf)
        bins = _bins(x[0], edges)
        probs = torch.zeros(configs, bins_per_axis**2, dtype=torch.float64)
        probs[:, int(bins[0]) * bins_per_axis + int(bins[1])] = torch.softmax(f, 0)
        return Truth(probs.reshape(-1).numpy())
    # log of the integral over x of exp f(a, b, x): f at x = m(a, b), minus log N(m; m, sigma^2).
    f = energy({"a": onehot_a, "b": onehot_b, "x": means}) + math.log(2 * math.pi * sigma**2)
    weights = torch.softmax(f.masked_fill(~keep, -math.inf), 0)  # p(a, b)
    edges = torch.tensor([-math.inf, *edges, math.inf], dtype=torch.float64)
    below = _normal_cdf((edges - means.unsqueeze(-1)) / math.sqrt(var))  # [C, 2, bins + 1]
    per_axis = below.diff(dim=-1)  # [C, 2, bins] P(x_d in bin | a, b)
    bins = (per_axis[:, 0, :, None] * per_axis[:, 1, None, :]).reshape(configs, -1)
    mean = (weights.unsqueeze(1) * means).sum(0)
    second = (weights.unsqueeze(1) * means.pow(2)).sum(0)
    probs = weights.unsqueeze(1) * bins
    return Truth(probs.reshape(-1).numpy(), mean.numpy(), (var + second - mean**2).numpy())


def _box(energy, clamp: dict) -> Truth:
    y = torch.eye(4, dtype=torch.float64)
    if "x" in clamp:
        x = torch.as_tensor(clamp["x"], dtype=torch.float64).expand(4, 2)
        probs = torch.zeros(4, 36, dtype=torch.float64)
        bins = _bins(x[0], BOX_EDGES)
        probs[:, int(bins[0]) * 6 + int(bins[1])] = torch.softmax(energy({"x": x, "y": y}), 0)
        return Truth(probs.reshape(-1).numpy())
    h = 2 * BOX / GRID
    axis = -BOX + h * (torch.arange(GRID, dtype=torch.float64) + 0.5)
    grid = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    f = torch.stack(
        [energy({"x": grid, "y": y[k].expand(len(grid), 4)}) for k in range(4)]
    )  # [4, GRID^2]
    if "y" in clamp:
        keep = torch.arange(4) == torch.as_tensor(clamp["y"]).argmax(-1)
        f = f.masked_fill(~keep.unsqueeze(1), -math.inf)
    weights = torch.softmax(f.reshape(-1), 0).reshape(4, GRID, GRID)
    per_bin = weights.reshape(4, 6, GRID // 6, 6, GRID // 6).sum((2, 4))  # [4, 6, 6]
    marginal = weights.sum(0).reshape(-1)
    mean = (marginal.unsqueeze(1) * grid).sum(0)
    var = (marginal.unsqueeze(1) * (grid - mean).pow(2)).sum(0)
    return Truth(per_bin.reshape(-1).numpy(), mean.numpy(), var.numpy())


# ---- statistics -------------------------------------------------------------------------------


def total_variation(counts: np.ndarray, probs: np.ndarray) -> float:
    """TV between the pooled empirical frequencies of G equal groups and their exact laws:
    counts [G, C] (integers) against probs [G, C] (rows sum to 1), each group weighted 1/G."""
    total = counts.sum()
    return 0.5 * float(np.abs(counts / total - probs / len(probs)).sum())


def iid_floor(probs: np.ndarray, per_group: int, seed: int, draws: int = 20) -> float:
    """Mean TV of `draws` i.i.d. samples of the same size (multinomial per group) from the exact
    laws: what an exact sampler that has fully mixed scores on average."""
    rng = np.random.default_rng(seed)
    return float(
        np.mean(
            [
                total_variation(np.stack([rng.multinomial(per_group, p) for p in probs]), probs)
                for _ in range(draws)
            ]
        )
    )


def z_limit(checks: int, false_alarm: float = FALSE_ALARM) -> float:
    """Largest |z| allowed in each of `checks` moment checks of one case (Bonferroni): an exact
    sampler fails any of them with probability <= `false_alarm` (4 checks: 4.21 SE, 48: 4.75)."""
    return NormalDist().inv_cdf(1 - false_alarm / (2 * checks))


@dataclass(frozen=True)
class Moments:
    """Sample moments of one group [D] and their delta-method standard errors: SE(mean) =
    sqrt(s^2 / n), SE(s^2) = sqrt((m4 - s^4) / n) with m4 the fourth central moment (right for any
    law, Gaussian or not)."""

    mean: np.ndarray
    var: np.ndarray
    mean_se: np.ndarray
    var_se: np.ndarray

    @staticmethod
    def of(samples: torch.Tensor) -> Moments:
        x = samples.double().cpu().numpy()
        n = len(x)
        centred = x - x.mean(0)
        var = centred.var(0, ddof=1)
        fourth = (centred**4).mean(0)
        return Moments(
            x.mean(0), var, np.sqrt(var / n), np.sqrt(np.maximum(fourth - var**2, 1e-300) / n)
        )
