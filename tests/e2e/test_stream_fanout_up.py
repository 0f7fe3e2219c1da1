"""Streams of several consumer agencies at the head of the demo dataset, on a hub started as an
operator starts it (``ndxp up``, production defaults): each receives every record published
after it opened, served by the gateway's shared head reader (``ndxp_gateway_streams_at_head``),
not by a consumer of its own."""

from __future__ import annotations

import contextlib
import json
import time
import uuid

import httpx

from tests.fixtures.hub import Hub
from tests.fixtures.reader import DATASET, open_reader
from tests.fixtures.streams import metric

READERS = 3
RECORDS = 5


def test_streams_at_the_head_share_the_reader_and_get_every_record(shared_hub: Hub) -> None:
    readers = [open_reader(shared_hub) for _ in range(READERS)]
    station = f"FAN-{uuid.uuid4().hex[:6]}"
    scrape = shared_hub.headers("metrics:read")
    with contextlib.ExitStack() as stack, httpx.Client(base_url=shared_hub.gateway) as http:
        received = [stack.enter_context(reader.streaming()) for reader in readers]
        deadline = time.monotonic() + 30
        while (
            metric(http.get("/metrics", headers=scrape).text, "ndxp_gateway_streams_at_head")
            < READERS
        ):
            assert time.monotonic() < deadline, "the streams did not join the head reader"
            time.sleep(0.2)
        batch = [
            {"station_code": station, "province_code": 1, "pm25": 10.0, "aqi": i, "measured_at": i}
            for i in range(RECORDS)
        ]
        published = http.post(
            f"/v1/datasets/{DATASET}/events", json=batch, headers=shared_hub.headers("publish")
        )
        assert published.status_code == 201, published.text
        deadline = time.monotonic() + 30
        while any(len(ours(lines, station)) < RECORDS for lines in received):
            assert time.monotonic() < deadline, [len(ours(lines, station)) for lines in received]
            time.sleep(0.2)
    for lines in received:
        assert ours(lines, station) == list(range(RECORDS))  # every record, in order


def ours(lines: list[str], station: str) -> list[int]:
    """The ``aqi`` of the records of ``station`` among a stream's lines, in arrival order."""
    values = [json.loads(line[6:])["value"] for line in list(lines) if line.startswith("data: ")]
    return [v["aqi"] for v in values if v and v.get("station_code") == station]
