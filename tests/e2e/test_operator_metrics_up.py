"""What an operator's Prometheus reads from ``ndxp up`` as ``make run`` leaves it (tokens
everywhere, SQLite): series that exist before their first event, so the first refusal, rejection
or registration is an increase from 0, and the registry's, identity's, audit's and connectors'
own metrics moving with the flows they count."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.test_service_identities import READINGS, create_dataset
from tests.fixtures.hub import Hub
from tests.fixtures.streams import metric


@pytest.fixture
def hub(shared_hub: Hub) -> Hub:
    return shared_hub


def scrape(hub: Hub, service: str) -> str:
    answer = httpx.get(
        f"{hub.url(service)}/metrics", headers=hub.headers("metrics:read"), timeout=10
    )
    assert answer.status_code == 200, answer.text
    assert "_created" not in answer.text
    return answer.text


def has(text: str, name: str, labels: dict[str, str]) -> bool:
    """Whether ``text`` holds a sample ``name`` with ``labels`` (at any value, 0 included)."""
    return any(
        line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items())
        for line in text.splitlines()
    )


def test_a_datasets_publish_refusals_are_zero_until_the_first(hub: Hub) -> None:
    dataset = create_dataset(hub).removesuffix(".v1")
    path = f"{hub.gateway}/v1/datasets/{dataset}/events"
    written = httpx.post(path, json=READINGS, headers=hub.headers(), timeout=30)
    assert written.status_code == 201, written.text
    before = scrape(hub, "gateway")
    for reason in ("invalid", "too_large", "unavailable", "forbidden"):
        labels = {"dataset": dataset, "reason": reason}
        assert has(before, "ndxp_publish_rejected_total", labels), reason
        assert metric(before, "ndxp_publish_rejected_total", labels) == 0, reason
    refused = httpx.post(path, json=[{"station_code": 1}], headers=hub.headers(), timeout=30)
    assert refused.status_code == 422, refused.text
    after = scrape(hub, "gateway")
    invalid = {"dataset": dataset, "reason": "invalid"}
    assert metric(after, "ndxp_publish_rejected_total", invalid) == 1
    for limit in ("streams_per_agency", "pulls_per_replica", "subscriptions_per_agency"):
        assert has(after, "ndxp_gateway_limited_total", {"limit": limit}), limit
