"""Passes over the IR, each a small pure function returning a new `ir.Program`.

`PIPELINE` is the visible, ordered tuple run by `ebmspec.api.compile_spec` after checking;
`FINISH` runs after the profile and `--set` settings (a setting may change a sampler's blocks,
and the colouring must be that of the blocks that run).
"""

from ebmspec.passes.colouring import colour_gibbs
from ebmspec.passes.defaults import fill_sampler_defaults

PIPELINE = (fill_sampler_defaults,)
FINISH = (colour_gibbs,)

__all__ = ["FINISH", "PIPELINE", "colour_gibbs", "fill_sampler_defaults"]
