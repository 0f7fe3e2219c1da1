"""Streams at the head of a dataset share one reader; a stream behind reads on its own until it
catches up.

A gateway replica in a process of its own (its metrics are its alone) serves the streams from
the test process. 200 streams at the head are served by one Kafka consumer and all receive every
record, in each partition's order; a stream whose client stops reading is dropped by the shared
reader, reads with a consumer of its own, loses nothing, and joins again once it has caught up;
revoking one agreement closes its stream only.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from tests.fixtures.catalog import Hub
from tests.fixtures.streams import GatewayProcess, metric, open_streams
from tests.integration.gateway.test_idle_streams import stream_replica, subscriptions
from tests.integration.gateway.test_subscriptions import (
    CONSUMER,
    KEYS,
    Event,
    Sharing,
    approve,
    publish,
    request_agreement,
    revoke,
    share,
    sse,
    subscribe,
    take,
)

STREAMS = 200
WINDOW = 50  # records a stream may fall behind the shared reader before it reads on its own
CONSUMERS = "ndxp_gateway_kafka_consumers"
AT_HEAD = "ndxp_gateway_streams_at_head"
FALLBACKS = "ndxp_gateway_stream_fallbacks_total"
FIRST = 1000  # sequence numbers after the 20 records share() published
BEHIND = 3000  # records a stream starting behind reads with its own consumer


@pytest.fixture
async def replica(hub: Hub, tmp_path: Path, kafka_bootstrap: str) -> AsyncIterator[GatewayProcess]:
    window = {"NDXP_GATEWAY_STREAM_WINDOW_RECORDS": str(WINDOW)}
    async with stream_replica(hub, tmp_path, kafka_bootstrap, STREAMS, **window) as process:
        yield process


def assert_complete(events: list[Event], expected: Sequence[int]) -> None:
    """Every record once, each key's (so each partition's) in publishing order, and each event's
    id the cursor just past it."""
    values = [event.json() for event in events]
    assert sorted(v["value"]["seq"] for v in values) == list(expected)
    for key in KEYS:
        seqs = [v["value"]["seq"] for v in values if v["key"] == key]
        assert seqs == sorted(seqs), key
    for event, record in zip(events, values, strict=True):
        assert event.id is not None
        cursor = json.loads(base64.urlsafe_b64decode(event.id + "=" * (-len(event.id) % 4)))
        assert cursor["o"][str(record["partition"])] >= record["offset"] + 1


async def test_streams_at_the_head_share_one_reader(hub: Hub, replica: GatewayProcess) -> None:
    sharing = await share(hub)
    async with subscriptions(hub, sharing, STREAMS) as subscribed:
        async with open_streams(replica.url, sharing.consumer.headers, subscribed) as responses:
            await replica.until(AT_HEAD, STREAMS)
            assert metric(await replica.metrics(), CONSUMERS) == 1  # one reader, not one per stream
            events = [sse(answer).__aiter__() for answer in responses]
            for first in (100, 130):
                await publish(hub, sharing.provider, sharing.dataset, 30, first=first)
            received = await asyncio.gather(*(take(stream, 60, within=60) for stream in events))
            for got in received:
                assert_complete(got, range(100, 160))
            assert metric(await replica.metrics(), CONSUMERS) == 1
        await replica.until(AT_HEAD, 0)
        await replica.until(CONSUMERS, 0)  # the reader closes once it has had no stream for a while


class RawStream:
    """A stream request over a socket with a small receive buffer, its answer read only when
    asked (HTTP/1.0: the body is the events themselves, no chunked framing)."""

    def __init__(self, replica: GatewayProcess, path: str, token: str) -> None:
        host, port = replica.url.removeprefix("http://").split(":")
        self.raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.raw.connect((host, int(port)))
        self.raw.settimeout(60)
        request = f"GET {path} HTTP/1.0\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\r\n"
        self.raw.sendall(request.encode())
        self.buffer = b""
        self.answered = False

    def events(self, count: int) -> list[Event]:
        """The next ``count`` record events."""
        events: list[Event] = []
        while len(events) < count:
            if not self.answered and b"\r\n\r\n" in self.buffer:
                head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
                assert head.startswith(b"HTTP/1.1 200"), head
                self.answered = True
            if self.answered and b"\n\n" in self.buffer:
                block, self.buffer = self.buffer.split(b"\n\n", 1)
                fields = dict(
                    line.split(": ", 1) for line in block.decode().split("\n") if ": " in line
                )
                if fields.get("event") == "record":
                    events.append(Event(fields.get("id"), "record", fields["data"]))
                continue
            data = self.raw.recv(1 << 20)
            assert data, "the stream ended"
            self.buffer += data
        return events

    def close(self) -> None:
        self.raw.close()


async def test_a_slow_stream_falls_behind_and_catches_up_without_losing_events(
    hub: Hub, replica: GatewayProcess
) -> None:
    sharing = await share(hub)
    fast, slow = [(await subscribe(hub, sharing, start="latest"))["id"] for _ in range(2)]
    path = f"/v1/subscriptions/{slow}/stream"
    raw = await asyncio.to_thread(RawStream, replica, path, sharing.consumer.token)
    try:
        async with open_streams(replica.url, sharing.consumer.headers, [fast]) as [answer]:
            await replica.until(AT_HEAD, 2)
            events = sse(answer).__aiter__()
            total = 0
            while metric(await replica.metrics(), FALLBACKS, {"reason": "slow"}) < 1:
                assert total < 20_000, "the unread stream was never dropped"
                await publish(hub, sharing.provider, sharing.dataset, 500, first=FIRST + total)
                assert_complete(
                    await take(events, 500, within=60), range(FIRST + total, FIRST + total + 500)
                )
                total += 500
            await publish(hub, sharing.provider, sharing.dataset, 100, first=FIRST + total)
            total += 100
            # read at last: everything, in order, from its own consumer and then the reader
            got = await asyncio.to_thread(raw.events, total)
            assert_complete(got, range(FIRST, FIRST + total))
            await replica.until(AT_HEAD, 2)  # caught up: back with the shared reader
            assert metric(await replica.metrics(), CONSUMERS) == 1
            await publish(hub, sharing.provider, sharing.dataset, 10, first=FIRST + total)
            assert_complete(
                await asyncio.to_thread(raw.events, 10), range(FIRST + total, FIRST + total + 10)
            )
    finally:
        raw.close()


async def test_revoking_one_agreement_closes_its_stream_only(
    hub: Hub, replica: GatewayProcess
) -> None:
    sharing = await share(hub)
    other_consumer = await hub.caller(*CONSUMER)
    requested = await request_agreement(hub, other_consumer, sharing.dataset)
    other = Sharing(
        sharing.provider,
        other_consumer,
        sharing.dataset,
        await approve(hub, sharing.provider, requested["id"]),
    )
    kept = (await subscribe(hub, sharing, start="latest"))["id"]
    cut = (await subscribe(hub, other, start="latest"))["id"]
    async with (
        open_streams(replica.url, sharing.consumer.headers, [kept]) as [kept_answer],
        open_streams(replica.url, other.consumer.headers, [cut]) as [cut_answer],
    ):
        await replica.until(AT_HEAD, 2)
        kept_events, cut_events = sse(kept_answer).__aiter__(), sse(cut_answer).__aiter__()
        await publish(hub, sharing.provider, sharing.dataset, 5, first=100)
        for events in (kept_events, cut_events):
            assert_complete(await take(events, 5), range(100, 105))
        await revoke(hub, sharing.provider, other.agreement["id"])
        [closed] = await take(cut_events, 1, within=5)
        assert closed.event == "closed"
        assert closed.json()["reason"] == "agreement_inactive"
        await publish(hub, sharing.provider, sharing.dataset, 5, first=105)
        assert_complete(await take(kept_events, 5), range(105, 110))
        await replica.until(AT_HEAD, 1)


async def test_streams_behind_wait_for_a_catch_up_consumer(
    hub: Hub, tmp_path: Path, kafka_bootstrap: str
) -> None:
    """Three streams starting behind the head with one catch-up slot: one consumer of their own
    at a time, and each receives everything."""
    sharing = await share(hub)  # 20 records before the subscriptions' start, and 3,000 more
    for first in range(FIRST, FIRST + BEHIND, 500):
        await publish(hub, sharing.provider, sharing.dataset, 500, first=first)
    behind = [(await subscribe(hub, sharing, start="earliest"))["id"] for _ in range(3)]
    slot = {"NDXP_GATEWAY_CATCHUP_CONSUMERS": "1"}
    async with (
        stream_replica(hub, tmp_path, kafka_bootstrap, 3, **slot) as replica,
        open_streams(replica.url, sharing.consumer.headers, behind) as responses,
    ):
        events = [sse(answer).__aiter__() for answer in responses]
        taking = [asyncio.create_task(take(stream, 20 + BEHIND, within=90)) for stream in events]
        most = 0.0
        while not all(task.done() for task in taking):
            most = max(most, metric(await replica.metrics(), CONSUMERS))
            await asyncio.sleep(0.05)
        for task in taking:
            assert_complete(task.result(), [*range(20), *range(FIRST, FIRST + BEHIND)])
        assert most <= 2, most  # the shared reader and one stream's own consumer
        await replica.until(AT_HEAD, 3)  # all caught up, all at the head
