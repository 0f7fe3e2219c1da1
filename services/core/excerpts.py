"""How an error message quotes what someone else's HTTP server answered.

The answer of an agency's API or of a token endpoint is the best clue to why it refused, but it
may be a whole HTML error page: an error (and the connector status that shows it) takes its first
characters, white space folded onto one line.
"""

from __future__ import annotations

from typing import Final

EXCERPT_CHARS: Final = 200  # characters of an answer quoted in an error


def excerpt(text: str) -> str:
    """``text`` on one line, cut to :data:`EXCERPT_CHARS` characters (``…`` where cut)."""
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "…"
