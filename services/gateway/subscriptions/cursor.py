"""A subscription's cursor: where it stands on every partition, as an opaque token.

A cursor is the base64url (unpadded) text of compact JSON ``{"s": <subscription id>, "e":
<epoch>, "o": {"<partition>": <next offset>, ...}}``: the offset of the next record to deliver on
each partition. Pull returns one with every batch, and SSE writes one as the ``id:`` of every event
(so ``Last-Event-ID`` resumes just after that event).

Cursors are not signed: everything in one is checked against Kafka before it is used (the
subscription it names, its epoch, offsets no further than the partition's end), and what a forged
cursor could do, move one's own subscription within its topic, ``reset`` allows anyway.

The **epoch** counts the subscription's resets. It travels in the metadata of the group's commits,
so a cursor handed out before a reset (a late ack, a stale ``Last-Event-ID``) is recognised and
cannot undo the reset.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from services.core.errors import Conflict, Unprocessable

MAX_CURSOR_CHARS: Final = 16_384
_MAX_PARTITION: Final = 1_000_000
_MAX_OFFSET: Final = 2**63 - 1


class InvalidCursor(Unprocessable):
    code = "invalid_cursor"
    title = "Invalid cursor"


class StaleCursor(Conflict):
    """The cursor was handed out before the subscription was last reset."""

    code = "stale_cursor"
    title = "Stale cursor"


@dataclass(frozen=True)
class Cursor:
    subscription: str
    epoch: int
    offsets: Mapping[int, int]

    def encode(self) -> str:
        return encoder(self.subscription, self.epoch)(self.offsets).decode()

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """The cursor in ``text``; :class:`InvalidCursor` for anything that is not one."""
        if not isinstance(text, str) or not 0 < len(text) <= MAX_CURSOR_CHARS:
            raise InvalidCursor("the cursor is empty or too long")
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            return cls(*_fields(json.loads(raw)))
        # ValueError: not JSON, or a partition number too long for int(); RecursionError: nested
        # past the parser's depth (the length limit still lets thousands of brackets in)
        except (binascii.Error, ValueError, RecursionError) as exc:
            raise InvalidCursor("the cursor is not one this gateway handed out") from exc

    def for_subscription(self, subscription: str) -> Cursor:
        """This cursor, checked to belong to ``subscription``."""
        if self.subscription != subscription:
            raise InvalidCursor("the cursor belongs to another subscription")
        return self

    def check_epoch(self, epoch: int) -> Cursor:
        if self.epoch != epoch:
            raise StaleCursor(
                "the subscription was reset after this cursor was handed out; pull again"
            )
        return self

    def check_within(self, ends: Mapping[int, int]) -> Cursor:
        """This cursor, checked to name only existing partitions and offsets not past their end."""
        for partition, offset in self.offsets.items():
            end = ends.get(partition)
            if end is None:
                raise InvalidCursor(f"the cursor names partition {partition}, which does not exist")
            if offset > end:
                raise InvalidCursor(
                    f"the cursor's offset {offset} on partition {partition} is past its end {end}"
                )
        return self


def encoder(subscription: str, epoch: int) -> Callable[[Mapping[int, int]], bytes]:
    """The text (ASCII) of the cursors of ``subscription`` at ``epoch``, by offsets: the compact
    JSON written by hand around a prefix made once, a quarter of ``json.dumps``'s cost (an SSE
    stream writes one per event, for every event of its dataset)."""
    prefix = '{"s":' + json.dumps(subscription) + f',"e":{epoch},"o":{{'

    def encode(offsets: Mapping[int, int]) -> bytes:
        parts = ",".join([f'"{p}":{o}' for p, o in sorted(offsets.items())])
        return base64.urlsafe_b64encode(f"{prefix}{parts}}}}}".encode()).rstrip(b"=")

    return encode


def _fields(body: Any) -> tuple[str, int, Mapping[int, int]]:
    bad = InvalidCursor("the cursor is not one this gateway handed out")
    if not isinstance(body, dict) or set(body) != {"s", "e", "o"}:
        raise bad
    subscription, epoch, offsets = body["s"], body["e"], body["o"]
    if not isinstance(subscription, str) or not _is_count(epoch) or not isinstance(offsets, dict):
        raise bad
    parsed: dict[int, int] = {}
    for key, offset in offsets.items():
        if not (key.isascii() and key.isdigit()) or not _is_count(offset):
            raise bad
        partition = int(key)
        if partition > _MAX_PARTITION or offset > _MAX_OFFSET:
            raise bad
        parsed[partition] = offset
    return subscription, epoch, MappingProxyType(parsed)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
