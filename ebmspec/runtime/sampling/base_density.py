"""A normalised base distribution p0 for annealing: the sampler's init distribution with a density.

In: the sampler table's `inits` (`[(names, dist, params)]`), the variable table and the data
statistics (`{name: {"mean", "std", "min", "max", "freq"}}`). Out: `Base`, which draws
`{name: [B, ...]}` model-space values and gives log p0 per chain (the sum over sites).

AIS (runtime/evaluation/ais.py) needs p0 normalised and positive wherever the annealed chains
can go. Per variable, following `schedule.initial_value`:

* real: N(mean, std^2) (`normal`'s arguments, or the data's per-element ones for `normal_data`
  and `uniform_data_range` - the latter's box would give the chains' moves outside the data's
  range density 0), truncated to the variable's box if it has one; `uniform` on a box is uniform;
* binary / categorical: independent sites with the data's frequencies (`data_frequency`),
  smoothed so that no value has probability 0 (a pixel never on in the data would make every
  chain that turns it on weigh 0), or uniform.
"""

from __future__ import annotations

import math

import torch

from ebmspec.runtime.sampling.schedule import _categorical, _truncated_normal

# The least probability a discrete base gives any value (of a site with K values: FLOOR / K).
FLOOR = 1e-3


class _Part:
    """One variable's factor of p0."""

    def __init__(self, name: str, spec, dist: str, params: dict, known: dict):
        self.name = name
        self.spec = spec
        kind, shape, categories, low, high = spec
        self.kind = kind
        self.box = (low, high) if low is not None else None
        if kind == "real":
            self.uniform = dist == "uniform" or (dist not in ("normal", "normal_data")
                                                and "mean" not in known and self.box)  # fmt: skip
            if dist == "normal":
                mean, std = params.get("mean", 0.0), params.get("std", 1.0)
            elif "mean" in known:
                mean, std = known["mean"], known["std"]
            else:
                mean, std = 0.0, 1.0
            self.mean = torch.as_tensor(mean, dtype=torch.float64).expand(shape).clone()
            self.std = torch.as_tensor(std, dtype=torch.float64).expand(shape).clamp_min(1e-6)
            self.log_mass = torch.zeros(shape, dtype=torch.float64)
            if self.box and not self.uniform:
                a = torch.special.ndtr((low - self.mean) / self.std)
                b = torch.special.ndtr((high - self.mean) / self.std)
                self.log_mass = torch.log((b - a).clamp_min(1e-300))
            return
        values = 2 if kind == "binary" else categories
        if dist == "data_frequency" and "freq" in known:
            freq = known["freq"].double()
            if kind == "binary" and freq.shape[-1:] != (2,):
                freq = torch.stack([1 - freq, freq], -1)
        else:
            freq = torch.full((*shape, values), 1.0 / values, dtype=torch.float64)
        freq = (1 - FLOOR) * freq + FLOOR / values
        # Kept as logs: log_prob runs at every kernel evaluation of an annealed or NCE batch.
        self.log_probs = torch.log(freq / freq.sum(-1, keepdim=True))

    def sample(self, count: int, generator, device) -> torch.Tensor:
        kind, shape = self.kind, self.spec.shape
        if kind == "real":
            size = (count, *shape)
            if self.uniform:
                low, high = self.box
                return low + (high - low) * torch.rand(size, generator=generator, device=device)
            mean, std = self.mean.to(device), self.std.to(device)
            if self.box:
                return _truncated_normal(mean, std, *self.box, size, generator, device)
            return (mean + std * torch.randn(size, generator=generator, device=device,
                                             dtype=torch.float64)).float()  # fmt: skip
        draw = _categorical(self.log_probs.exp().float(), count, generator, device)
        return draw[..., 1] if kind == "binary" else draw

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """[B] log p0 of this variable (float64)."""
        value = value.double()
        batch = value.shape[0]
        if self.kind == "real":
            if self.uniform:
                low, high = self.box
                sites = math.prod(self.spec.shape)
                return torch.full((batch,), -sites * math.log(high - low), dtype=torch.float64,
                                  device=value.device)  # fmt: skip
            mean, std = self.mean.to(value.device), self.std.to(value.device)
            z = (value - mean) / std
            log_p = -0.5 * z**2 - torch.log(std) - 0.5 * math.log(2 * math.pi)
            log_p = log_p - self.log_mass.to(value.device)
            return log_p.reshape(batch, -1).sum(1)
        log_probs = self.log_probs.to(value.device)
        if self.kind == "binary":
            # Affine in the code, so an exact Gibbs kernel's logits stay exact on the path.
            log_p = value * log_probs[..., 1] + (1 - value) * log_probs[..., 0]
        else:
            log_p = (value * log_probs).sum(-1)
        return log_p.reshape(batch, -1).sum(1)


class Base:
    """p0 over every variable: independent factors per variable (see the module docstring)."""

    def __init__(self, inits: list, variables: dict, stats: dict | None = None):
        stats = stats or {}
        chosen = {}
        for names, dist, params in inits:
            for name in names:
                chosen[name] = (dist, dict(params))
        self.parts = [
            _Part(name, variables[name], *chosen.get(name, ("default", {})), stats.get(name, {}))
            for name in variables
        ]

    def sample(self, count: int, generator, device="cpu") -> dict:
        return {part.name: part.sample(count, generator, device) for part in self.parts}

    def log_prob(self, values: dict) -> torch.Tensor:
        total = None
        for part in self.parts:
            term = part.log_prob(values[part.name])
            total = term if total is None else total + term
        return total
