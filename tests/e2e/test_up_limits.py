"""Delivery limits on a hub started as an operator starts it (``ndxp up``, production defaults)
with limits of one: a consumer agency's second stream, second pull in progress and second
subscription are answered 429 with a problem body and ``Retry-After``, and the gateway's metrics
count each refusal."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.hub import Hub, running_hub
from tests.fixtures.reader import open_reader
from tests.fixtures.streams import metric

LIMITS = {
    "NDXP_GATEWAY_STREAMS_PER_AGENCY": "1",
    "NDXP_GATEWAY_PULLS_PER_AGENCY": "1",
    "NDXP_GATEWAY_SUBSCRIPTIONS_PER_AGENCY": "1",
}


@pytest.fixture
def limited_hub(tmp_path: Path) -> Iterator[Hub]:
    with running_hub(tmp_path, LIMITS) as running:
        yield running


def refused(answer: httpx.Response, code: str) -> None:
    assert answer.status_code == 429, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == code
    assert int(answer.headers["retry-after"]) >= 1


def test_an_agency_past_its_limits_is_refused_with_429(limited_hub: Hub) -> None:
    reader = open_reader(limited_hub)
    path = f"/v1/subscriptions/{reader.subscription}"
    with httpx.Client(base_url=limited_hub.gateway, headers=reader.headers, timeout=30) as http:
        with reader.streaming():
            refused(http.get(f"{path}/stream"), "too_many_streams")
        with reader.polling():
            refused(http.get(f"{path}/events", params={"wait": 0}), "too_many_pulls")
        agreement = http.get(path).json()["agreement"]
        body = {"agreement": agreement, "name": "second"}
        refused(http.post("/v1/subscriptions", json=body), "too_many_subscriptions")
        metrics = http.get("/metrics", headers=limited_hub.headers("metrics:read")).text
    for limit in ("streams_per_agency", "pulls_per_agency", "subscriptions_per_agency"):
        assert metric(metrics, "ndxp_gateway_limited_total", {"limit": limit}) == 1, limit
