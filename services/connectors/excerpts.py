"""Where connector plugins import :func:`excerpt` from; it lives in core, where the command line
quotes a token endpoint's answer the same way."""

from services.core.excerpts import excerpt

__all__ = ["excerpt"]
