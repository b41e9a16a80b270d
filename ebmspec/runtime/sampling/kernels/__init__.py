"""MCMC kernels, one per file, all behind the protocol of `base` (init / step, own generator).

A kernel is added by adding its module, which holds everything about it: the `SIGNATURE` the
checker binds a spec's arguments to, and below the standalone marker the class (its `name` and
planner traits `reads` / `leaves`, then `init` / `step`), which the emitted module copies. Every
module here is imported and its row declared in `semantic.registry.KERNELS`, with the traits read
off the class (the planner's facts, `passes.plan_sweep`); `schedule.KERNEL_CLASSES` finds the
class by its `name`, and `KERNEL_FILES` (the order the emitted module copies them in: `base`
first, then by name) lists its file.
"""

import dataclasses
import importlib
import pkgutil

from ebmspec.runtime.sampling.kernels.base import Kernel, KernelState, Point, Target
from ebmspec.semantic.registry import KERNELS
from ebmspec.semantic.registry.signatures import declare

_MODULES = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name != "base")
_LOADED = [importlib.import_module(f"{__name__}.{n}") for n in _MODULES]
_CLASSES = {kernel.name: kernel for kernel in Kernel.__subclasses__()}  # as schedule's table
for _row in (m.SIGNATURE for m in _LOADED if hasattr(m, "SIGNATURE")):  # `tuning` is a helper
    _class = _CLASSES[_row.name]
    _traits = {"reads": _class.reads, "leaves": _class.leaves, "enumerates": _class.enumerates}
    declare(KERNELS, dataclasses.replace(_row, extra={**_row.extra, **_traits}))

# Kernels depend on `base` (their base class) and on helper modules such as `tuning` only through
# functions called at run time, so base first and then any order works.
KERNEL_FILES = ("base", *_MODULES)

__all__ = ["KERNEL_FILES", "Kernel", "KernelState", "Point", "Target"]
