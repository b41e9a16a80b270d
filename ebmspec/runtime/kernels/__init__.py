"""MCMC kernels, one per file, all behind the protocol of `base` (init / step, own generator)."""

from ebmspec.runtime.kernels.base import Kernel, KernelState, Point, Target
from ebmspec.runtime.kernels.gibbs import Gibbs
from ebmspec.runtime.kernels.gwg import GWG
from ebmspec.runtime.kernels.hmc import HMC
from ebmspec.runtime.kernels.langevin import Langevin
from ebmspec.runtime.kernels.mala import MALA
from ebmspec.runtime.kernels.metropolis import Metropolis

KERNEL_FILES = ("base", "gwg", "gibbs", "metropolis", "langevin", "mala", "hmc")

__all__ = [
    "GWG",
    "HMC",
    "KERNEL_FILES",
    "MALA",
    "Gibbs",
    "Kernel",
    "KernelState",
    "Langevin",
    "Metropolis",
    "Point",
    "Target",
]
