"""python -m bench.codec: the contract codec's cost per record, beside bare fastavro.

For three 10-field contracts (plain primitives; the bench-kafka reading with an ISO-8601
timestamp; the sample mps.residence-changes: a uuid, dates, an enum, a nested address), prints
records/s on one core of validate+encode (``encode_many`` over 500-record batches), of decode and
of decode+to_json, next to fastavro's ``schemaless_writer``/``schemaless_reader`` on the same
data. Each figure is the best of 3 rounds (other load on the machine only lowers figures); it runs
in about 10 s. BENCH_SECONDS sets the length of a round (default 0.2).
"""

from __future__ import annotations

import io
import json
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastavro

from bench.common import report
from services.core.avro.codec import compile_contract, decode, encode_many, to_json

BATCH = 500
SECONDS = float(os.environ.get("BENCH_SECONDS", "0.2"))
ROUNDS = 3
ROOT = Path(__file__).resolve().parents[1]

PLAIN = {
    "type": "record",
    "name": "Plain",
    "namespace": "vn.gov.bench",
    "fields": [
        {"name": "event_id", "type": "string"},
        {"name": "station", "type": "string"},
        {"name": "province_code", "type": "int"},
        {"name": "measured_at", "type": "long"},
        {"name": "pm25", "type": "double"},
        {"name": "pm10", "type": "double"},
        {"name": "temperature", "type": "double"},
        {"name": "ok", "type": "boolean"},
        {"name": "status", "type": "string"},
        {"name": "note", "type": ["null", "string"], "default": None},
    ],
}
READING = {
    **PLAIN,
    "name": "Reading",
    "fields": [
        *PLAIN["fields"][:3],
        {"name": "measured_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        *PLAIN["fields"][4:6],
        {"name": "temperature", "type": "float"},
        {"name": "humidity", "type": "float"},
        *PLAIN["fields"][8:],
    ],
}
RESIDENCE = json.loads((ROOT / "schemas/mps/residence-changes.avsc").read_text())


def plain(i: int) -> dict[str, Any]:
    return {
        "event_id": str(uuid.UUID(int=i)),
        "station": f"HN-{i % 50:03d}",
        "province_code": 1,
        "measured_at": 1_790_000_000_000 + i,
        "pm25": 35.5 + i % 7,
        "pm10": 50.25,
        "temperature": 29.5,
        "ok": True,
        "status": "OK",
        "note": None if i % 2 else "calibrated",
    }


def reading(i: int) -> dict[str, Any]:
    record = plain(i)
    del record["ok"]
    return record | {
        "measured_at": f"2026-09-21T10:{i % 60:02d}:{i % 59:02d}.{i % 1000:03d}+07:00",
        "humidity": 0.81,
    }


def residence(i: int) -> dict[str, Any]:
    return {
        "event_id": str(uuid.UUID(int=i)),
        "citizen_id": f"{i:012d}",
        "full_name": "Nguyễn Thị Minh Khai",
        "date_of_birth": "1990-05-17",
        "change_type": "PERMANENT_REGISTRATION",
        "old_address": None,
        "new_address": {
            "province_code": "01",
            "district_code": None,
            "ward_code": "00004",
            "street": f"{i % 200} Hàng Bài",
        },
        "effective_date": "2025-03-01",
        "authority_code": "CA-01-00004",
        "recorded_at": "2025-03-14T09:30:15.123+07:00",
    }


def rate(work: Callable[[], object], per_call: int) -> float:
    """Records per second of ``work`` (which handles ``per_call`` records): the best round."""
    best = 0.0
    for _ in range(ROUNDS):
        calls, started = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < SECONDS:
            work()
            calls += 1
        best = max(best, calls * per_call / elapsed)
    return best


def bench(name: str, schema: Any, make: Callable[[int], dict[str, Any]]) -> None:
    contract = compile_contract(1, schema)
    batch = [make(i) for i in range(BATCH)]
    payloads = encode_many(contract, batch)
    decoded = [decode(p, contract) for p in payloads]

    def raw_write() -> None:
        for record in decoded:  # fastavro's own input types: datetime, not ISO text
            out = io.BytesIO()
            out.write(contract.header)
            fastavro.schemaless_writer(out, contract.parsed, record)

    def raw_read() -> None:
        for payload in payloads:
            stream = io.BytesIO(payload)
            stream.seek(5)
            fastavro.schemaless_reader(stream, contract.parsed, None)

    report(
        f"{name}: records/s on one core",
        {
            "validate+encode": rate(lambda: encode_many(contract, batch), BATCH),
            "fastavro write only": rate(raw_write, BATCH),
            "decode": rate(lambda: [decode(p, contract) for p in payloads], BATCH),
            "decode+to_json": rate(
                lambda: [to_json(contract, decode(p, contract)) for p in payloads], BATCH
            ),
            "fastavro read only": rate(raw_read, BATCH),
        },
    )


def main() -> None:
    bench("plain 10 fields (no logical types)", PLAIN, plain)
    bench("reading 10 fields (ISO timestamp, float)", READING, reading)
    bench("mps.residence-changes (uuid, dates, enum, nested)", RESIDENCE, residence)


if __name__ == "__main__":
    main()
