from datetime import UTC, datetime
from typing import Any

import pytest

from services.core.audit.event import GENESIS, AuditEvent, chain_hash, record_fields
from services.core.audit.verify import verify_chain


def chain(n: int) -> list[dict[str, Any]]:
    records, prev = [], GENESIS
    for seq in range(1, n + 1):
        event = AuditEvent(
            "publish", "mps", "mps-sync", dataset="mps.residence-changes", provider="mps",
            records=seq, bytes=100 * seq, offsets={0: [seq, seq + 9]}, details={"schema_id": 3},
        )  # fmt: skip
        fields = record_fields(
            event, seq=seq, record_id=f"r{seq}", time=datetime(2026, 11, 27, 12, 0, seq, 123456,
            tzinfo=UTC), request_id="req", prev_hash=prev,
        )  # fmt: skip
        fields["hash"] = prev = chain_hash(fields)
        records.append(fields)
    return records


def test_an_untouched_chain_verifies() -> None:
    report = verify_chain(chain(10))
    assert report.ok
    assert report.checked == 10
    assert report.last_hash == chain(10)[-1]["hash"]


def test_an_edit_is_detected_where_it_is() -> None:
    records = chain(10)
    records[4]["record_count"] = 999
    report = verify_chain(records)
    assert report.problems == ["seq 5: hash does not match its content (edited)"]


def test_an_edit_that_also_rewrites_the_hash_breaks_the_next_link() -> None:
    records = chain(10)
    records[4]["bytes"] = 1
    records[4]["hash"] = chain_hash(records[4])
    assert verify_chain(records).problems == ["seq 6: prev_hash does not match the previous record"]


def test_a_removed_record_is_a_gap() -> None:
    records = chain(10)
    del records[3]
    problems = verify_chain(records).problems
    assert "seq 5: expected seq 4 (a gap or a repeat)" in problems
    assert "seq 5: prev_hash does not match the previous record" in problems


def test_offsets_hash_the_same_before_and_after_json() -> None:
    record = chain(1)[0]
    assert record["offsets"] == {"0": [1, 10]}  # partition keys as JSON reads them back


def test_unknown_actions_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown audit action"):
        AuditEvent("exfiltrate", "mps", "c")
