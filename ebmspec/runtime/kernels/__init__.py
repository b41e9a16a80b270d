"""MCMC kernels, one per file, all behind the protocol of `base` (init / step, own generator).

Every module of this package is imported here, so a kernel is added by adding its module (and its
registry row, which the checker reads): `schedule.KERNEL_CLASSES` finds the class by its `name`
and `KERNEL_FILES` (the order the emitted module copies them in: `base` first, then by name)
lists its file.
"""

import importlib
import pkgutil

from ebmspec.runtime.kernels.base import Kernel, KernelState, Point, Target

_MODULES = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name != "base")
for _name in _MODULES:
    importlib.import_module(f"{__name__}.{_name}")

# Kernels depend on `base` (their base class) and on helper modules such as `tuning` only through
# functions called at run time, so base first and then any order works.
KERNEL_FILES = ("base", *_MODULES)

__all__ = ["KERNEL_FILES", "Kernel", "KernelState", "Point", "Target"]
