"""Per-client rate limits: a token bucket per client id.

Each client may send ``rate`` requests a second on average and ``burst`` at once. The buckets are
in memory, per replica: N replicas behind a load balancer let a client through at up to N times
the rate. A limiter shared by the replicas (in the database or Kafka) is future work; what this
one already gives is protection of each replica from one noisy client.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import Counter

from services.core.auth.errors import ClientRateLimited

_MAX_BUCKETS = 100_000

# By client: a limited client has authenticated, so its id is one the hub registered (bounded).
RATE_LIMITED = Counter(
    "ndxp_auth_rate_limited_total",
    "Requests refused with 429 because their client was over its rate (NDXP_AUTH_RATE_LIMIT_*).",
    ["client"],
)


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets keyed by client id; :meth:`check` spends one token or raises 429."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def _refill(self, bucket: _Bucket, now: float) -> None:
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now

    def try_acquire(self, client_id: str) -> float:
        """Spend a token: 0.0 when allowed, else the seconds until one is available."""
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(client_id)
            if bucket is None:
                if len(self._buckets) >= _MAX_BUCKETS:
                    self._forget_full(now)
                bucket = self._buckets[client_id] = _Bucket(float(self.burst), now)
            self._refill(bucket, now)
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return 0.0
            return (1 - bucket.tokens) / self.rate

    def check(self, client_id: str) -> None:
        """Spend a token or raise :class:`ClientRateLimited` with ``Retry-After`` (≥ 1 s)."""
        wait = self.try_acquire(client_id)
        if wait > 0:
            RATE_LIMITED.labels(client_id).inc()
            raise ClientRateLimited(client_id, max(1, math.ceil(wait)))

    def _forget_full(self, now: float) -> None:
        # A full bucket holds no information: dropping it is the same as never having seen it.
        for client_id, bucket in list(self._buckets.items()):
            self._refill(bucket, now)
            if bucket.tokens >= self.burst:
                del self._buckets[client_id]
