"""Frontend: `.ebm` text in, AST (frozen dataclasses with spans) out. Lark stays in here."""

from ebmspec.frontend.parser import parse_assignment, parse_source

__all__ = ["parse_assignment", "parse_source"]
