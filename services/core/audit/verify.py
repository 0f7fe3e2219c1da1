"""Checking the audit chain: every hash recomputed, every link and position in place."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from services.core.audit.event import GENESIS, chain_hash


@dataclass(frozen=True)
class ChainHead:
    """A point of the chain: the record ``seq`` and its ``hash`` (the genesis: 0)."""

    seq: int = 0
    hash: str = GENESIS


@dataclass
class ChainReport:
    checked: int = 0
    problems: list[str] = field(default_factory=list)
    last_hash: str = GENESIS
    last_seq: int = 0

    @property
    def head(self) -> ChainHead:
        return ChainHead(self.last_seq, self.last_hash)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_chain(
    records: Iterable[Mapping[str, Any]], *, limit: int = 20, start: ChainHead | None = None
) -> ChainReport:
    """Walk ``records`` in ``seq`` order from the genesis (or the record after ``start``, a head
    checked before); report the first ``limit`` problems: a gap or repeat in ``seq``, a
    ``prev_hash`` that is not the previous record's ``hash``, or a ``hash`` that does not match
    the record's content (an edit)."""
    start = start or ChainHead()
    report = ChainReport(last_hash=start.hash, last_seq=start.seq)
    expected_seq = start.seq + 1
    for record in records:
        seq = record["seq"]
        if seq != expected_seq:
            report.problems.append(f"seq {seq}: expected seq {expected_seq} (a gap or a repeat)")
        if record["prev_hash"] != report.last_hash:
            report.problems.append(f"seq {seq}: prev_hash does not match the previous record")
        if chain_hash(record) != record["hash"]:
            report.problems.append(f"seq {seq}: hash does not match its content (edited)")
        report.last_hash, report.last_seq = record["hash"], seq
        report.checked += 1
        expected_seq = seq + 1
        if len(report.problems) >= limit:
            break
    return report
