"""Energy building blocks, one module per block (or per family of blocks sharing one rule).

A block is added by adding its module, which holds everything about it:

* `ROWS`: the registry rows (`Signature`s) the checker binds a call's arguments to;
* `shape(chk, e, name, bound, module)`: the shape rule, run by the checker
  (`semantic.energy`): the `ir.Op` with its per-example shape, or None after a located E3xx;
* `PARAMETRIC`: the names of its rows whose calls own parameters (named after their binding);
* `MODULE = (class name, constructor arguments)` when `PARAMETRIC` is not empty: the class below
  the marker, built from the `ir.Op`'s attributes of those names;
* optionally `macs(node)`: multiply-adds per example, the planner's cost (`passes.plan_cache`);
* below the `# --- begin standalone ---` marker, torch only: the module class or the
  `op_<name>` function that evaluates it, copied into every emitted module.

Every module here is imported and its rows declared in `semantic.registry.ENERGY_BLOCKS` (the
checker reads them without importing the runtime). `OPS` maps an op name to its function and
`BLOCK_FILES` lists the modules whose bodies the emitted module copies, after `ops`.
"""

import dataclasses
import importlib
import pkgutil
from collections.abc import Callable

from ebmspec.runtime.model import ops
from ebmspec.semantic.registry import ENERGY_BLOCKS
from ebmspec.semantic.registry.signatures import declare

BLOCK_FILES = tuple(sorted(m.name for m in pkgutil.iter_modules(__path__)))
MODULE_CLASSES: dict[str, tuple[type, tuple[str, ...]]] = {}
OPS: dict[str, Callable] = {k[3:]: v for k, v in vars(ops).items() if k.startswith("op_")}
for _name in BLOCK_FILES:
    _module = importlib.import_module(f"{__name__}.{_name}")
    OPS.update({k[3:]: v for k, v in vars(_module).items() if k.startswith("op_")})
    for _row in _module.ROWS:
        _parametric = _row.name in _module.PARAMETRIC
        _traits = {
            "shape": _module.shape,
            "parametric": _parametric,
            "macs": getattr(_module, "macs", None),
        }
        declare(ENERGY_BLOCKS, dataclasses.replace(_row, extra=_traits))
        if _parametric:
            _class_name, _args = _module.MODULE
            MODULE_CLASSES[_row.name] = (getattr(_module, _class_name), _args)

__all__ = ["BLOCK_FILES", "MODULE_CLASSES", "OPS"]
