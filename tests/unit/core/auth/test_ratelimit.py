"""Per-client token buckets."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from services.core.auth.errors import ClientRateLimited
from services.core.auth.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refused_with_retry_after_in_whole_seconds() -> None:
    limiter = RateLimiter(rate=0.5, burst=3, clock=Clock())
    for _ in range(3):
        limiter.check("a")
    with pytest.raises(ClientRateLimited) as refused:
        limiter.check("a")
    assert refused.value.status == 429
    assert refused.value.headers == {"Retry-After": "2"}  # one token every 2 s


def test_retry_after_is_at_least_one_second() -> None:
    limiter = RateLimiter(rate=1000, burst=1, clock=Clock())
    limiter.check("a")
    with pytest.raises(ClientRateLimited) as refused:
        limiter.check("a")
    assert refused.value.headers["Retry-After"] == "1"


def test_tokens_come_back_at_the_rate_up_to_the_burst() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2, burst=2, clock=clock)
    assert limiter.try_acquire("a") == 0 and limiter.try_acquire("a") == 0
    assert limiter.try_acquire("a") == pytest.approx(0.5)
    clock.now += 0.5
    assert limiter.try_acquire("a") == 0
    clock.now += 60  # a long pause refills to the burst, not beyond
    assert [limiter.try_acquire("a") == 0 for _ in range(3)] == [True, True, False]


def test_clients_have_their_own_buckets() -> None:
    limiter = RateLimiter(rate=1, burst=1, clock=Clock())
    limiter.check("noisy")
    with pytest.raises(ClientRateLimited):
        limiter.check("noisy")
    limiter.check("quiet")


def test_nonsense_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="rate"):
        RateLimiter(rate=0, burst=1)
    with pytest.raises(ValueError, match="burst"):
        RateLimiter(rate=1, burst=0)


def test_each_refusal_is_counted_by_client() -> None:
    limiter = RateLimiter(rate=0.5, burst=1, clock=Clock())
    before = REGISTRY.get_sample_value("ndxp_auth_rate_limited_total", {"client": "noisy"}) or 0
    limiter.check("noisy")
    for _ in range(2):
        with pytest.raises(ClientRateLimited):
            limiter.check("noisy")
    after = REGISTRY.get_sample_value("ndxp_auth_rate_limited_total", {"client": "noisy"})
    assert after == before + 2
