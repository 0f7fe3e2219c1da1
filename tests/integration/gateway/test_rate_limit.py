"""Per-client rate limits over HTTP: a client past its burst gets 429 with Retry-After, and
nobody else notices."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.gateway import Gateway, bearer, gateway_settings, serve_gateway

BURST = 5


@pytest.fixture
def gateway(tmp_path: Path, kafka_bootstrap: str) -> Iterator[Gateway]:
    settings = gateway_settings(
        tmp_path, kafka_bootstrap, rate_limit_per_second=0.5, rate_limit_burst=BURST
    )
    with serve_gateway(settings) as gateway:
        yield gateway


async def test_burst_exhausted_gives_429_with_retry_after_and_others_are_unaffected(
    gateway: Gateway,
) -> None:
    noisy_id, noisy_secret = await gateway.create_client()
    quiet_id, quiet_secret = await gateway.create_client()
    noisy = await gateway.token(noisy_id, noisy_secret)
    quiet = await gateway.token(quiet_id, quiet_secret)
    async with gateway.client() as http:
        statuses = await asyncio.gather(
            *(http.get("/v1/me", headers=bearer(noisy)) for _ in range(BURST + 3))
        )
        assert sorted(r.status_code for r in statuses) == [200] * BURST + [429] * 3
        refused = next(r for r in statuses if r.status_code == 429)
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.json()["code"] == "rate_limited"

        assert (await http.get("/v1/me", headers=bearer(quiet))).status_code == 200
        # HTTP Basic callers are the same client, with the same bucket
        basic = await http.get("/v1/me", auth=(noisy_id, noisy_secret))
        assert basic.status_code == 429

        await asyncio.sleep(int(refused.headers["retry-after"]))
        assert (await http.get("/v1/me", headers=bearer(noisy))).status_code == 200
