"""Data transforms: raw values of a real variable <-> the space the model sees.

In: the `transform x: ...` steps of the `data` line (`ir.Call`s among dequantize(levels),
logit(eps), standardize(), noise(std)) and the variable's raw training values. Out: a `Pipeline`
per transformed variable whose `forward` maps a raw batch to model space (drawing its randomness
from an explicit `torch.Generator`), whose `inverse` maps model values back to raw values (for
pictures and density plots), and whose `state()` holds the fitted statistics for checkpoints.

Per step, forward / inverse:

* dequantize(levels): (x*(levels-1) + u)/levels, u ~ U(0, 1) / the continuous inverse
  (y*levels - 1/2)/(levels-1), which sends the centre of bin k to k/(levels-1); rounding it to
  the nearest multiple of 1/(levels-1) recovers the level exactly for any u in (0, 1).
* logit(eps): x' = x(1-2eps)+eps, log(x'/(1-x')) / (sigmoid(y) - eps)/(1-2eps).
* standardize(): (x - mean)/std per element, with mean and std (population std, clamped to at
  least 1e-6) fitted on the training values as they reach this step; the earlier random steps
  are drawn for the fit from a generator seeded with FIT_SEED, so the fit is reproducible.
* noise(std): x + std*N(0, 1) / the identity.

`binarize(threshold, stochastic)` is no pipeline step: it makes a real field in [0, 1] the 0/1
values of a binary variable once, when the dataset is loaded (`binarize_split`), so every epoch
sees the same digits (stochastic binarisation with a fixed seed, as the RBM literature's
binarised MNIST).
"""

from __future__ import annotations

import torch

from ebmspec import ir

FIT_SEED = 0
MIN_STD = 1e-6


def _draw(kind: str, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """U(0,1) or N(0,1) noise shaped like `x`, drawn on the generator's device, moved to x's."""
    draw = torch.rand if kind == "uniform" else torch.randn
    noise = draw(x.shape, generator=generator, device=generator.device, dtype=x.dtype)
    return noise.to(x.device)


class Pipeline:
    """The transforms of one real variable, fitted on its training values.

    `steps` in forward order. A pipeline with a standardize step needs its statistics, either
    fitted from `train_values` (raw values, [N, *shape]) or restored from `state` (the dict
    `state()` returned); without either it is unfitted and `forward`/`inverse` raise.
    """

    def __init__(
        self,
        steps: tuple[ir.Call, ...],
        train_values: torch.Tensor | None = None,
        state: dict | None = None,
    ):
        # binarize is applied once at load (`binarize_split`), not per batch
        self.steps = tuple(step for step in steps if step.name != "binarize")
        self._stats: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        if state is not None:
            for index, step in enumerate(self.steps):
                if step.name == "standardize":
                    mean, std = state[f"{index}.mean"], state[f"{index}.std"]
                    self._stats[index] = (torch.as_tensor(mean), torch.as_tensor(std))
        elif train_values is not None:
            self._fit(train_values)

    @property
    def fitted(self) -> bool:
        """Whether every standardize step has its statistics."""
        return all(
            index in self._stats for index, s in enumerate(self.steps) if s.name == "standardize"
        )

    def _fit(self, values: torch.Tensor) -> None:
        # Only `standardize` has statistics: the steps after the last one need not run over the
        # training set (a float copy of it: 760 MiB of transients for dSprites' 46,652 images).
        last = max((i for i, s in enumerate(self.steps) if s.name == "standardize"), default=-1)
        if last < 0:
            return
        generator = torch.Generator().manual_seed(FIT_SEED)
        x = values.detach().to("cpu", torch.float32)
        for index, step in enumerate(self.steps[: last + 1]):
            if step.name == "standardize":
                mean = x.mean(dim=0)
                std = x.std(dim=0, correction=0).clamp_min(MIN_STD)
                self._stats[index] = (mean, std)
            x = self._step(index, step, x, generator)

    def _step(
        self, index: int, step: ir.Call, x: torch.Tensor, generator: torch.Generator
    ) -> torch.Tensor:
        args = dict(step.args)
        if step.name == "dequantize":
            levels = int(args["levels"])
            return (x * (levels - 1) + _draw("uniform", x, generator)) / levels
        if step.name == "logit":
            eps = float(args["eps"])
            squeezed = x * (1 - 2 * eps) + eps
            return torch.log(squeezed / (1 - squeezed))
        if step.name == "standardize":
            mean, std = self._statistics(index, x)
            return (x - mean) / std
        if step.name == "noise":
            return x + float(args["std"]) * _draw("normal", x, generator)
        raise AssertionError(f"unknown transform {step.name!r}")

    def _statistics(self, index: int, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if index not in self._stats:
            raise RuntimeError("standardize has no statistics: fit the pipeline on training data")
        mean, std = self._stats[index]
        return mean.to(x.device, x.dtype), std.to(x.device, x.dtype)

    def forward(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Raw values [B, *shape] -> model space; all randomness comes from `generator`."""
        for index, step in enumerate(self.steps):
            x = self._step(index, step, x, generator)
        return x

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        """Model-space values [B, *shape] -> raw values (not clamped; noise inverts to itself)."""
        for index in reversed(range(len(self.steps))):
            step = self.steps[index]
            args = dict(step.args)
            if step.name == "dequantize":
                levels = int(args["levels"])
                x = (x * levels - 0.5) / max(levels - 1, 1)
            elif step.name == "logit":
                eps = float(args["eps"])
                x = (torch.sigmoid(x) - eps) / (1 - 2 * eps)
            elif step.name == "standardize":
                mean, std = self._statistics(index, x)
                x = x * std + mean
        return x

    def state(self) -> dict[str, torch.Tensor]:
        """The fitted statistics as plain tensors: `{i}.mean`, `{i}.std` for standardize step i."""
        state: dict[str, torch.Tensor] = {}
        for index, (mean, std) in sorted(self._stats.items()):
            state[f"{index}.mean"] = mean.clone()
            state[f"{index}.std"] = std.clone()
        return state


def transform_steps(data: ir.Dataset, variable: str) -> tuple[ir.Call, ...]:
    """Every step applied to `variable`, in order (clauses for one variable concatenate)."""
    return tuple(step for t in data.transforms if t.variable == variable for step in t.steps)


def binarize_split(data: ir.Dataset, values: dict, generator: torch.Generator) -> dict:
    """`values` (raw fields of one split) with every binarized field made 0/1 floats: 1 where the
    value exceeds the threshold, or (`stochastic`) with probability the value, drawn from
    `generator` in field order."""
    out = dict(values)
    for name in sorted(out):
        steps = [s for t in data.transforms if t.variable == name for s in t.steps]
        steps = [s for s in steps if s.name == "binarize"]
        if not steps:
            continue
        args, x = dict(steps[0].args), out[name].float()
        if args["stochastic"]:
            draw = torch.rand(x.shape, generator=generator)
            out[name] = (draw < x.clamp(0, 1)).float()
        else:
            out[name] = (x > float(args["threshold"])).float()
    return out


def fit_transforms(data: ir.Dataset, train: dict[str, torch.Tensor]) -> dict[str, Pipeline]:
    """One fitted `Pipeline` per transformed variable of the `data` line (binarized variables
    have none: `binarize_split` made their values when the data was loaded)."""
    names = dict.fromkeys(
        t.variable for t in data.transforms if all(s.name != "binarize" for s in t.steps)
    )
    return {name: Pipeline(transform_steps(data, name), train.get(name)) for name in names}


def apply_transforms(pipelines: dict[str, Pipeline], raw: dict, generator: torch.Generator) -> dict:
    """Transform every entry of `raw` that has a pipeline (in the order of `pipelines`, so the
    random draws are reproducible); other entries pass through unchanged."""
    out = dict(raw)
    for name, pipeline in pipelines.items():
        if name in out:
            out[name] = pipeline.forward(out[name], generator)
    return out
