"""Step-size adaptation for the gradient kernels (`mala`, `hmc`): dual averaging on the device.

In: a block's `KernelState` and the log acceptance ratios of its last transition. Out: the step
of the next transition and the updated state (`KernelState.tune` holds a `StepTuning`). During the
first `adapt` transitions the step moves towards the target acceptance rate; afterwards it is
frozen at the running average, so the chain is a fixed, exact kernel from there on. Torch-only:
the body below the marker is copied into emitted modules with the kernels.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from ebmspec.runtime.sampling.kernels.base import KernelState

# --- begin standalone ---


class StepTuning(NamedTuple):
    """Dual averaging of a block's step size (Hoffman & Gelman 2014, algorithm 5), as tensors on
    the chains' device. `log_step`: the step of the next transition while adapting; `log_bar`:
    the running average, used once adaptation stops; `h_bar`: the averaged acceptance error."""

    log_step: torch.Tensor
    log_bar: torch.Tensor
    h_bar: torch.Tensor
    mu: torch.Tensor


# Hoffman & Gelman's constants: shrinkage gamma, stabiliser t0, averaging decay kappa.
TUNE_GAMMA, TUNE_T0, TUNE_KAPPA = 0.05, 10.0, 0.75


def tuning_start(state: KernelState, point, step: float, adapt: int) -> KernelState:
    """A fresh block state that adapts from `step` (shrinking towards mu = log(10 step)) when
    `adapt` > 0, else `state` as it is."""
    if not adapt:
        return state
    device = next(iter(point.values.values())).device
    log_step = torch.tensor(math.log(step), dtype=torch.float64, device=device)
    zero = torch.zeros((), dtype=torch.float64, device=device)
    return state._replace(tune=StepTuning(log_step, zero, zero.clone(), log_step + math.log(10)))


def tuned_step(state: KernelState, fixed: float, adapt: int):
    """The step of this transition: `fixed` without adaptation; the adapting step during the
    first `adapt` transitions; then the averaged one, frozen (the chain is exact from there)."""
    if state.tune is None:
        return fixed
    return (state.tune.log_step if state.steps < adapt else state.tune.log_bar).exp()


def tuning_update(
    state: KernelState, log_alpha: torch.Tensor, adapt: int, target: float
) -> KernelState:
    """After transition m = steps (1-based) of an adapting block: move the step so that the mean
    acceptance probability over the chains approaches `target`. A no-op once adaptation is over
    (or without it)."""
    if state.tune is None or state.steps > adapt:
        return state
    m = state.steps
    rate = log_alpha.clamp(max=0).exp().nan_to_num(0.0).mean().to(torch.float64)
    tune = state.tune
    weight = 1.0 / (m + TUNE_T0)
    h_bar = (1 - weight) * tune.h_bar + weight * (target - rate)
    log_step = tune.mu - math.sqrt(m) / TUNE_GAMMA * h_bar
    decay = m ** (-TUNE_KAPPA)
    log_bar = decay * log_step + (1 - decay) * tune.log_bar
    return state._replace(tune=StepTuning(log_step, log_bar, h_bar, tune.mu))
