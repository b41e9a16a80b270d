"""Passes over the IR, each a small pure function returning a new `ir.Program`.

`PIPELINE` is the visible, ordered tuple run by `ebmspec.api.compile_spec` after checking.
"""

from ebmspec.passes.defaults import fill_sampler_defaults

PIPELINE = (fill_sampler_defaults,)

__all__ = ["PIPELINE", "fill_sampler_defaults"]
