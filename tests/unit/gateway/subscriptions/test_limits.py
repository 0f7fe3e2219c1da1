"""Delivery limits as pure bookkeeping: per agency, per replica, released once."""

from __future__ import annotations

import uuid

import pytest
from prometheus_client import REGISTRY

from services.core.config import GatewaySettings
from services.gateway.subscriptions.limits import (
    DeliveryLimits,
    TooManyPulls,
    TooManyStreams,
    TooManySubscriptions,
)


def limits(**values: int) -> DeliveryLimits:
    return DeliveryLimits.from_settings(GatewaySettings(**values))


def refused(limit: str) -> float:
    return REGISTRY.get_sample_value("ndxp_gateway_limited_total", {"limit": limit}) or 0.0


def open_streams(agency: str) -> float:
    return REGISTRY.get_sample_value("ndxp_gateway_streams_open", {"agency": agency}) or 0.0


def test_an_agency_past_its_limit_is_refused_until_a_slot_frees() -> None:
    streams = limits(streams_per_agency=2, streams_per_replica=10).streams
    agency = f"a{uuid.uuid4().hex[:8]}"
    before = refused("streams_per_agency")
    first, _second = streams.take(agency), streams.take(agency)
    assert open_streams(agency) == 2
    with pytest.raises(TooManyStreams) as caught:
        streams.take(agency)
    assert caught.value.headers["Retry-After"] == "5"
    assert refused("streams_per_agency") == before + 1
    first.release()
    first.release()  # twice is once
    assert open_streams(agency) == 1
    streams.take(agency)
    assert streams.held[agency] == 2


def test_the_replica_limit_counts_every_agency() -> None:
    pulls = limits(pulls_per_agency=5, pulls_per_replica=3).pulls
    one, two = f"a{uuid.uuid4().hex[:8]}", f"b{uuid.uuid4().hex[:8]}"
    before = refused("pulls_per_replica")
    with pulls.holding(one), pulls.holding(one), pulls.holding(two):
        with pytest.raises(TooManyPulls, match="this gateway serves 3 pulls"):
            pulls.take(two)
        assert refused("pulls_per_replica") == before + 1
    assert pulls.total == 0
    assert not pulls.held


def test_subscriptions_per_agency() -> None:
    bound = limits(subscriptions_per_agency=3)
    bound.check_subscriptions("agency", 2)
    with pytest.raises(TooManySubscriptions) as caught:
        bound.check_subscriptions("agency", 3)
    assert caught.value.status == 429
    assert caught.value.headers["Retry-After"] == "60"
