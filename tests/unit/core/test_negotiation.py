"""``Accept`` as Confluent's Jersey resources negotiate it: the client's q first, then the server's
quality (v1+json 1, vnd.schemaregistry+json 0.9, application/json 0.5)."""

from __future__ import annotations

import pytest

from services.core.http.negotiation import negotiate

V1 = "application/vnd.schemaregistry.v1+json"
DEFAULT = "application/vnd.schemaregistry+json"
JSON = "application/json"


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, V1),
        ("", V1),
        ("*/*", V1),
        ("application/*", V1),
        (f"{V1}, {DEFAULT}, {JSON}", V1),  # what Confluent's clients send
        (JSON, JSON),
        (DEFAULT, DEFAULT),
        ("APPLICATION/JSON", JSON),
        (f"{JSON}, {V1};q=0.9", JSON),  # the client's q before the server's quality
        (f"{JSON};q=0.5, {DEFAULT};q=0.5", DEFAULT),  # a tie: the server's quality
        (f"{V1};q=0, */*", DEFAULT),  # the most specific range sets a type's q
        ("text/html, application/json;q=0.1", JSON),
        ("text/html", None),
        ("application/xml", None),
        ("*/*;q=0", None),
        (f"{JSON};q=abc", None),
        (",,;", None),
    ],
)
def test_negotiate(accept: str | None, chosen: str | None) -> None:
    assert negotiate(accept) == chosen
