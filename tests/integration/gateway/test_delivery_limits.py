"""The limits an operator sets on delivery, met as a client meets them: past one, 429 with a
problem body (a stable code) and ``Retry-After``; ending a stream or a pull frees its slot at
once; the metrics show what is held and what was refused. A gateway replica of the hub with
small limits (2 streams per agency, 3 per replica, 1 pull per agency, 2 subscriptions each)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.catalog import Caller, Hub
from tests.fixtures.gateway import Gateway, replica_settings, serve_gateway
from tests.fixtures.streams import metric
from tests.integration.gateway.catalog_data import problem
from tests.integration.gateway.test_subscriptions import (
    CONSUMER,
    Sharing,
    approve,
    request_agreement,
    share,
    subscribe,
)

LIMITS = {
    "streams_per_agency": 2,
    "streams_per_replica": 3,
    "pulls_per_agency": 1,
    "pulls_per_replica": 10,
    "subscriptions_per_agency": 2,
}
LIMITED = "ndxp_gateway_limited_total"


@pytest.fixture
def limited(hub: Hub, tmp_path: Path, kafka_bootstrap: str) -> Iterator[Gateway]:
    """A replica of the hub (its control plane, keys and registry) with small limits."""
    other = replica_settings(
        hub.gateway.settings, tmp_path, kafka_bootstrap, hub.registry_url, **LIMITS
    )
    with serve_gateway(other) as gateway:
        yield gateway


async def scrape(gateway: Gateway) -> str:
    return await gateway.scrape()


def assert_limited(answer: httpx.Response, code: str) -> dict[str, Any]:
    """A 429 problem with ``code`` and a ``Retry-After``; its body."""
    body = problem(answer, 429, code)
    assert int(answer.headers["retry-after"]) >= 1
    return body


@asynccontextmanager
async def held_stream(gateway: Gateway, caller: Caller, subscription: str) -> AsyncIterator[None]:
    async with (
        gateway.client(headers=caller.headers) as http,
        http.stream("GET", f"/v1/subscriptions/{subscription}/stream") as answer,
    ):
        assert answer.status_code == 200, (await answer.aread()).decode()
        yield


async def open_stream(gateway: Gateway, caller: Caller, subscription: str) -> httpx.Response:
    """A stream request answered before it streams (a refusal), read whole."""
    async with gateway.client(headers=caller.headers) as http:
        return await http.get(f"/v1/subscriptions/{subscription}/stream")


async def test_streams_per_agency_and_per_replica(hub: Hub, limited: Gateway) -> None:
    sharing = await share(hub)
    first, second = (await subscribe(hub, sharing))["id"], (await subscribe(hub, sharing))["id"]
    agency = {"agency": sharing.consumer.agency}
    before = await scrape(limited)

    async with held_stream(limited, sharing.consumer, first):
        async with held_stream(limited, sharing.consumer, second):
            assert metric(await scrape(limited), "ndxp_gateway_streams_open", agency) == 2
            assert_limited(await open_stream(limited, sharing.consumer, first), "too_many_streams")
            after = await scrape(limited)
            limit = {"limit": "streams_per_agency"}
            assert metric(after, LIMITED, limit) == metric(before, LIMITED, limit) + 1

            # another agency: its own first stream is the replica's third, its second is over
            other = await hub.caller(*CONSUMER)
            theirs = await share_with(hub, sharing, other)
            async with held_stream(limited, other, theirs):
                refused = await open_stream(limited, other, theirs)
                assert "this gateway" in assert_limited(refused, "too_many_streams")["detail"]
            limit = {"limit": "streams_per_replica"}
            assert (
                metric(await scrape(limited), LIMITED, limit) == metric(before, LIMITED, limit) + 1
            )

        # one closed: its slot frees as soon as the gateway sees the client gone
        await until_open(limited, sharing.consumer.agency, 1)
        async with held_stream(limited, sharing.consumer, second):
            assert metric(await scrape(limited), "ndxp_gateway_streams_open", agency) == 2
    await until_open(limited, sharing.consumer.agency, 0)


async def until_open(gateway: Gateway, agency: str, count: int) -> None:
    deadline = asyncio.get_running_loop().time() + 10
    labels = {"agency": agency}
    while (found := metric(await scrape(gateway), "ndxp_gateway_streams_open", labels)) != count:
        assert asyncio.get_running_loop().time() < deadline, f"{found} streams open, not {count}"
        await asyncio.sleep(0.05)


async def share_with(hub: Hub, sharing: Sharing, other: Caller) -> str:
    """A subscription of ``other`` to the dataset of ``sharing``, under an agreement of its own."""
    requested = await request_agreement(hub, other, sharing.dataset)
    approved = await approve(hub, sharing.provider, requested["id"])
    theirs = Sharing(sharing.provider, other, sharing.dataset, approved)
    return str((await subscribe(hub, theirs))["id"])


async def test_pulls_per_agency(hub: Hub, limited: Gateway) -> None:
    sharing = await share(hub)
    subscription = (await subscribe(hub, sharing, start="latest"))["id"]
    path = f"/v1/subscriptions/{subscription}/events"
    async with limited.client(headers=sharing.consumer.headers) as http:
        waiting = asyncio.create_task(http.get(path, params={"wait": 3}))
        deadline = asyncio.get_running_loop().time() + 10
        agency = {"agency": sharing.consumer.agency}
        while metric(await scrape(limited), "ndxp_gateway_pulls_in_flight", agency) != 1:
            assert asyncio.get_running_loop().time() < deadline, "the long poll never started"
            await asyncio.sleep(0.05)
        assert_limited(await http.get(path, params={"wait": 0}), "too_many_pulls")
        assert (await waiting).status_code == 200
        # the long poll over, its slot is free
        assert (await http.get(path, params={"wait": 0})).status_code == 200
    assert metric(await scrape(limited), "ndxp_gateway_pulls_in_flight", agency) == 0


async def test_subscriptions_per_agency(hub: Hub, limited: Gateway) -> None:
    sharing = await share(hub)
    kept = [(await subscribe(hub, sharing))["id"] for _ in range(2)]
    body = {"agreement": sharing.agreement["id"], "name": "third"}
    async with limited.client(headers=sharing.consumer.headers) as http:
        refused = await http.post("/v1/subscriptions", json=body)
        assert_limited(refused, "too_many_subscriptions")
        assert (await http.delete(f"/v1/subscriptions/{kept[0]}")).status_code == 204
        assert (await http.post("/v1/subscriptions", json=body)).status_code == 201
