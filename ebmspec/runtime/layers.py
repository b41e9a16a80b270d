"""Building blocks of energy functions: torch-only modules and per-example tensor functions.

In: batched tensors (leading batch axis; categoricals as one-hot floats on a last axis so that GWG
can differentiate through them). Out: batched tensors. This file imports nothing but torch: its
body (below the `# --- begin standalone ---` marker) is copied verbatim into every module emitted
by `ebmspec compile`, so the in-process model and the emitted one run the very same code.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

# --- begin standalone ---


class Var(NamedTuple):
    """One row of the variable table `{name: Var}` that the samplers, kernels and the emitted
    module read: the domain kind ("real", "binary", "categorical"), the shape without the batch
    axis (nor a categorical's one-hot axis), the number of categories (categorical only) and the
    box of a bounded real variable (else None)."""

    kind: str
    shape: tuple
    categories: int | None = None
    low: float | None = None
    high: float | None = None


def _activation(name: str) -> nn.Module:
    if name == "leaky_relu":
        return nn.LeakyReLU(0.2)
    return {
        "identity": nn.Identity,
        "relu": nn.ReLU,
        "elu": nn.ELU,
        "silu": nn.SiLU,
        "swish": nn.SiLU,
        "gelu": nn.GELU,
        "tanh": nn.Tanh,
        "sigmoid": nn.Sigmoid,
        "softplus": nn.Softplus,
    }[name]()


class Blocks(nn.ModuleDict):
    """Parameter blocks keyed by the spec's binding names. Any identifier is a valid key (even
    `forward` or `training`), because keys are stored without becoming attributes."""

    def __setitem__(self, key: str, module: nn.Module) -> None:
        self._modules[key] = module

    def __setattr__(self, name: str, value) -> None:
        # nn.Module refuses a plain value for an attribute named like a child module, so a block
        # named `training` would break `.train()` / `.eval()`; plain values go to the instance.
        if not isinstance(value, nn.Module) and name in self.__dict__.get("_modules", ()):
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)


class MLP(nn.Module):
    """Linear layers with an activation between them; `out=None` gives one squeezed output."""

    def __init__(self, in_features, hidden, out, act, bias=True):
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for size in hidden:
            layers += [nn.Linear(width, size, bias=bias), _activation(act)]
            width = size
        layers.append(nn.Linear(width, out or 1, bias=bias))
        self.net = nn.Sequential(*layers)
        self.squeeze = out is None

    def forward(self, x):
        return self.tail(self.net[0](x))

    def share(self, x, columns, bias=True):
        """The first layer applied to the input columns `columns` only (increasing ints): with
        the shares of all columns summed (one with the bias), `tail` gives `forward`'s output.
        Lets a sampler keep the share of inputs that a move leaves alone (passes/plan_cache)."""
        first = self.net[0]
        start, stop = columns[0], columns[-1] + 1
        if stop - start == len(columns):  # a contiguous range: a view of the weight
            weight = first.weight[:, start:stop]
        else:
            weight = first.weight[:, list(columns)]
        out = x @ weight.t()
        return out + first.bias if bias and first.bias is not None else out

    def tail(self, pre):
        """Everything after the first linear layer, from its output `pre`."""
        y = self.net[1:](pre)
        return y.squeeze(-1) if self.squeeze else y


class CNN(nn.Module):
    """Conv2d + activation per entry of `channels`, then an optional 1x1 `head` conv."""

    def __init__(self, in_channels, channels, kernels, strides, paddings, head, act):
        super().__init__()
        layers: list[nn.Module] = []
        width = in_channels
        for size, kernel, stride, padding in zip(channels, kernels, strides, paddings, strict=True):
            layers += [nn.Conv2d(width, size, kernel, stride, padding), _activation(act)]
            width = size
        if head:
            layers.append(nn.Conv2d(width, head, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class Embedding(nn.Module):
    """A learned vector per category, applied to one-hot codes (so gradients reach the code)."""

    def __init__(self, categories, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(categories, dim))

    def forward(self, onehot):
        return (onehot @ self.weight).flatten(1)


class NICE(nn.Module):
    """NICE (Dinh et al. 2015; paper 001's Table 2 model): `layers` additive coupling layers on
    a vector of `dim` elements, split into its even and odd positions; layer i shifts one half by
    an MLP of the other (odd by even for even i), then z = exp(log_scale) * h. Additive couplings
    have Jacobian determinant 1, so with a standard normal base the output is the exact
    log-density log p(x) = sum_i log N(z_i; 0, 1) + sum(log_scale). The couplings' last layers
    start at zero: the flow starts as the identity. `classes = K`: the base is N(mu_k, I) for
    each class k (learned means, drawn N(0, I) at the start), and the output is [B, K] of
    log p(x | k) (paper 002's generative classifier: a flow with a Gaussian-mixture latent)."""

    def __init__(self, dim, layers=4, hidden=(256, 256), act="relu", classes=None):
        super().__init__()
        half, rest = (dim + 1) // 2, dim // 2
        self.couplings = nn.ModuleList()
        for index in range(layers):
            source, target = (half, rest) if index % 2 == 0 else (rest, half)
            coupling = MLP(source, list(hidden), target, act)
            nn.init.zeros_(coupling.net[-1].weight)
            nn.init.zeros_(coupling.net[-1].bias)
            self.couplings.append(coupling)
        self.log_scale = nn.Parameter(torch.zeros(dim))
        self.means = None if classes is None else nn.Parameter(torch.randn(classes, dim))

    def forward(self, x):
        even, odd = x[:, 0::2], x[:, 1::2]
        for index, coupling in enumerate(self.couplings):
            if index % 2 == 0:
                odd = odd + coupling(even)
            else:
                even = even + coupling(odd)
        h = torch.stack([even[:, : odd.shape[1]], odd], 2).reshape(x.shape[0], -1)
        if even.shape[1] > odd.shape[1]:  # an odd length: the last element is even-indexed
            h = torch.cat([h, even[:, -1:]], 1)
        z = h * self.log_scale.exp()
        if self.means is not None:  # [B, 1, dim] - [K, dim]: every class's Gaussian at once
            z = z.unsqueeze(1) - self.means
        log_base = -0.5 * z.pow(2).sum(-1) - 0.5 * x.shape[1] * math.log(2 * math.pi)
        return log_base + self.log_scale.sum()


class Bilinear(nn.Module):
    """a^T W b for vectors a, b."""

    def __init__(self, left, right):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(left, right) / math.sqrt(left * right))

    def forward(self, a, b):
        return ((a @ self.weight) * b).sum(-1)


class Quadratic(nn.Module):
    """v^T W v + b^T v with W symmetric and zero on the diagonal (Ising / Potts couplings)."""

    def __init__(self, dim, bias=True):
        super().__init__()
        self.weight = nn.Parameter(0.01 * torch.randn(dim, dim))
        self.bias = nn.Parameter(torch.zeros(dim)) if bias else None
        self.register_buffer("mask", 1.0 - torch.eye(dim), persistent=False)

    def coupling(self):
        return 0.5 * (self.weight + self.weight.t()) * self.mask

    def forward(self, v):
        f = ((v @ self.coupling()) * v).sum(-1)
        return f + v @ self.bias if self.bias is not None else f


def _align(a, b):
    """Broadcast a per-example scalar [B] against a per-example tensor [B, ...]."""
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dim() != b.dim():
        if a.dim() < b.dim():
            a = a.reshape(a.shape + (1,) * (b.dim() - a.dim()))
        else:
            b = b.reshape(b.shape + (1,) * (a.dim() - b.dim()))
    return a, b


def op_add(a, b):
    a, b = _align(a, b)
    return a + b


def op_sub(a, b):
    a, b = _align(a, b)
    return a - b


def op_mul(a, b):
    a, b = _align(a, b)
    return a * b


def op_div(a, b):
    a, b = _align(a, b)
    return a / b


def op_neg(a):
    return -a


def _rows(x):
    """[B, ...] -> [B, n]; a per-example scalar [B] becomes [B, 1] (flatten(1) would fail)."""
    return x.reshape(x.shape[0], -1)


def op_onehot(code):
    return _rows(code)


def op_flatten(x):
    return _rows(x)


def op_concat(*xs):
    return torch.cat(xs, dim=1)


def op_reshape(x, shape):
    return x.reshape(x.shape[0], *shape)


def op_sum(x):
    return _rows(x).sum(1)


def op_mean(x):
    return _rows(x).mean(1)


def op_logsumexp(x):
    return torch.logsumexp(_rows(x), dim=1)


def op_dot(a, b):
    return (a * b).sum(-1)


def op_index(scores, code):
    """JEM indexing logits[y]: the score of the one-hot coded category (differentiable in y)."""
    return (scores * code).sum(-1)


def op_gaussian(x, m, std):
    z = op_sub(x, m) / std
    count = z[0].numel()
    return -0.5 * _rows(z.pow(2)).sum(1) - count * (math.log(std) + 0.5 * math.log(2 * math.pi))


def op_relu(x):
    return F.relu(x)


def op_elu(x):
    return F.elu(x)


def op_silu(x):
    return F.silu(x)


def op_gelu(x):
    return F.gelu(x)


def op_tanh(x):
    return torch.tanh(x)


def op_sigmoid(x):
    return torch.sigmoid(x)


def op_softplus(x):
    return F.softplus(x)


def op_leaky_relu(x):
    return F.leaky_relu(x, 0.2)


def op_identity(x):
    return x


def random_values(variables: dict, batch: int, generator: torch.Generator) -> dict:
    """A random batch of valid values of the variable table `{name: Var}`. Real values are
    N(0, 1) (uniform within bounds), discrete ones uniform."""
    values = {}
    for name, (kind, shape, categories, low, high) in variables.items():
        size = (batch, *shape)
        if kind == "real" and low is None:
            values[name] = torch.randn(size, generator=generator)
        elif kind == "real":
            values[name] = low + (high - low) * torch.rand(size, generator=generator)
        elif kind == "binary":
            values[name] = torch.randint(0, 2, size, generator=generator).float()
        else:
            code = torch.randint(0, categories, size, generator=generator)
            values[name] = F.one_hot(code, categories).float()
    return values


def finish(f, batch: int):
    """The energy as a [batch] tensor, whatever the result's per-example shape ([] or [1])."""
    if not isinstance(f, torch.Tensor):
        return torch.full((batch,), float(f))
    if f.dim() == 0:
        return f.expand(batch)
    return f.reshape(batch)
