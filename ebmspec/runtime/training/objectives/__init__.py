"""Training objectives, one per module, all behind the protocol of `base.Objective`.

An objective is added by adding its module, which holds everything about it: the `SIGNATURE` the
checker binds a spec's `objective = name(...)` to, and its `Objective` subclass (traits and
`step`). Every module here is imported and its row declared in `semantic.registry.OBJECTIVES`;
`OBJECTIVE_CLASSES` finds the class by its name.
"""

import importlib
import pkgutil

from ebmspec.runtime.training.objectives.base import Objective
from ebmspec.semantic.registry import OBJECTIVES
from ebmspec.semantic.registry.signatures import declare

_MODULES = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name != "base")
OBJECTIVE_CLASSES: dict[str, type[Objective]] = {}
for _name in _MODULES:
    _module = importlib.import_module(f"{__name__}.{_name}")
    declare(OBJECTIVES, _module.SIGNATURE)
    (_class,) = (
        value
        for value in vars(_module).values()
        if isinstance(value, type)
        and issubclass(value, Objective)
        and value.__module__ == _module.__name__
    )
    OBJECTIVE_CLASSES[_class.name] = _class

# The objectives a run of several processes splits, in the order their modules are listed.
SHARDABLE = tuple(name for name, cls in OBJECTIVE_CLASSES.items() if cls.shardable)

__all__ = ["OBJECTIVE_CLASSES", "SHARDABLE", "Objective"]
