"""Semantic analysis: AST in, typed frozen IR out; every error collected and reported at once."""
