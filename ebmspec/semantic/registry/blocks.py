"""Energy building blocks (`return ...` in `energy { }`).

In: nothing. Out: the table the checker looks block names up in, filled by the blocks' own
modules (`ebmspec.runtime.model.blocks`, one per block or family) when `ebmspec.api` imports
them: each row's `extra` holds its shape rule (`shape`), whether a call owns parameters
(`parametric`) and its cost per example for the planner (`macs`, or None for 0).
"""

from __future__ import annotations

from ebmspec.semantic.registry.signatures import Signature

ENERGY_BLOCKS: dict[str, Signature] = {}
