"""Cursors: opaque to clients, checked on every use."""

from __future__ import annotations

import base64
import json

import pytest

from services.gateway.subscriptions.cursor import Cursor, InvalidCursor, StaleCursor


def raw(body: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")


def test_a_cursor_reads_back_as_it_was_written() -> None:
    cursor = Cursor("sub-1", 3, {2: 10, 0: 5})
    text = cursor.encode()
    assert "=" not in text and "+" not in text and "/" not in text
    assert json.loads(base64.urlsafe_b64decode(text + "==")) == {
        "s": "sub-1",
        "e": 3,
        "o": {"0": 5, "2": 10},
    }
    assert Cursor.decode(text) == Cursor("sub-1", 3, {0: 5, 2: 10})


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not base64 !",
        raw([1, 2]),
        raw({"s": "a", "e": 0}),
        raw({"s": "a", "e": 0, "o": {}, "x": 1}),
        raw({"s": 1, "e": 0, "o": {}}),
        raw({"s": "a", "e": -1, "o": {}}),
        raw({"s": "a", "e": True, "o": {}}),
        raw({"s": "a", "e": 0, "o": {"x": 1}}),
        raw({"s": "a", "e": 0, "o": {"-1": 1}}),
        raw({"s": "a", "e": 0, "o": {"0": -5}}),
        raw({"s": "a", "e": 0, "o": {"0": 1.5}}),
        raw({"s": "a", "e": 0, "o": {"0": 2**63}}),
        raw({"s": "a", "e": 0, "o": {"1" * 5_000: 0}}),  # too long for int()
        base64.urlsafe_b64encode(b"[" * 5_000 + b"]" * 5_000).decode(),  # too deep for json
        "A" * 20_000,
    ],
)
def test_anything_else_is_an_invalid_cursor(text: str) -> None:
    with pytest.raises(InvalidCursor):
        Cursor.decode(text)


def test_checks_against_the_subscription_and_the_topic() -> None:
    cursor = Cursor("sub-1", 2, {0: 5, 1: 7})
    assert cursor.for_subscription("sub-1").check_epoch(2).check_within({0: 5, 1: 9}) is cursor
    with pytest.raises(InvalidCursor, match="another subscription"):
        cursor.for_subscription("sub-2")
    with pytest.raises(StaleCursor):
        cursor.check_epoch(3)
    with pytest.raises(InvalidCursor, match="past its end"):
        cursor.check_within({0: 4, 1: 9})
    with pytest.raises(InvalidCursor, match="does not exist"):
        cursor.check_within({0: 5})
