"""Delivery limits: what one consumer agency, and all of them together, may hold on a replica.

An SSE stream holds its connection, a place at a shared head reader (or, while behind, a Kafka
consumer of its own) and a checkpoint a second for as long as it is open, and a long poll holds
its subscription's pooled consumer while it waits; without a bound, one agency opening streams in
a loop takes the replica's memory and every other agency's service with it. So a replica counts
the streams and the pulls in flight, per agency and in all, and refuses the one past a limit with
429 (``too_many_streams``, ``too_many_pulls``) and ``Retry-After``;
closing a stream or ending a pull frees its slot at once. Subscriptions are bounded per agency
(``too_many_subscriptions``), counted in the control plane when one is created.

The limits are per replica (``NDXP_GATEWAY_*``, :class:`services.core.config.GatewaySettings`):
a hub of several replicas behind a balancer admits up to that many times as much.

Metrics: ``ndxp_gateway_streams_open{agency}`` and ``ndxp_gateway_pulls_in_flight{agency}``
(gauges; agency ids are a bounded set) and ``ndxp_gateway_limited_total{limit}``, the requests
refused by each limit.

It lives in ``subscriptions/``: only delivery holds a stream or a pull, and the subscription count
is checked where one is created; publishing is bounded by its body's limits instead.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

from prometheus_client import Counter, Gauge

from services.core.config import GatewaySettings
from services.core.errors import RateLimited

# A slot frees when a stream closes or a pull ends: seconds worth waiting before trying again.
RETRY_SLOT: Final = 5
# A subscription frees only when one is deleted: a client retrying should not hammer.
RETRY_SUBSCRIPTION: Final = 60

STREAMS_OPEN = Gauge(
    "ndxp_gateway_streams_open",
    "SSE streams open on this gateway replica, by consumer agency.",
    ["agency"],
    multiprocess_mode="livesum",
)
PULLS_IN_FLIGHT = Gauge(
    "ndxp_gateway_pulls_in_flight",
    "Pulls (long polls) in progress on this gateway replica, by consumer agency.",
    ["agency"],
    multiprocess_mode="livesum",
)
LIMITED = Counter(
    "ndxp_gateway_limited_total",
    "Requests refused with 429 by a delivery limit (streams_per_agency, pulls_per_replica, ...).",
    ["limit"],
)
SUBSCRIPTIONS_PER_AGENCY: Final = "subscriptions_per_agency"
# Every limit's counter is there from the start, so the first refusal is an increase from 0.
for _limit in (
    *(f"{kind}_per_{scope}" for kind in ("streams", "pulls") for scope in ("agency", "replica")),
    SUBSCRIPTIONS_PER_AGENCY,
):
    LIMITED.labels(_limit)


class TooManyStreams(RateLimited):
    code = "too_many_streams"
    title = "Too many open streams"


class TooManyPulls(RateLimited):
    code = "too_many_pulls"
    title = "Too many pulls in progress"


class TooManySubscriptions(RateLimited):
    code = "too_many_subscriptions"
    title = "Too many subscriptions"


class Slots:
    """Concurrent holders of one kind (streams or pulls), bounded per agency and in all."""

    def __init__(
        self,
        kind: str,
        *,
        per_agency: int,
        per_replica: int,
        gauge: Gauge,
        error: type[RateLimited],
    ) -> None:
        self.kind = kind
        self.per_agency, self.per_replica = per_agency, per_replica
        self.gauge, self.error = gauge, error
        self.held: Tally[str] = Tally()

    @property
    def total(self) -> int:
        return self.held.total()

    def take(self, agency: str) -> Slot:
        """A slot for ``agency``, or the 429 of the limit it would pass."""
        if self.held[agency] >= self.per_agency:
            self._refuse(
                f"{self.kind}_per_agency",
                f"agency {agency!r} has {self.held[agency]} {self.kind} in progress on this "
                f"gateway, its limit; end one or retry later",
            )
        if self.total >= self.per_replica:
            self._refuse(
                f"{self.kind}_per_replica",
                f"this gateway serves {self.total} {self.kind}, its limit; retry later",
            )
        self.held[agency] += 1
        self.gauge.labels(agency).inc()
        return Slot(self, agency)

    @contextmanager
    def holding(self, agency: str) -> Iterator[Slot]:
        """A slot for the block."""
        slot = self.take(agency)
        try:
            yield slot
        finally:
            slot.release()

    def _refuse(self, limit: str, message: str) -> None:
        LIMITED.labels(limit).inc()
        raise self.error(message, headers={"Retry-After": str(RETRY_SLOT)})

    def _give_back(self, agency: str) -> None:
        self.held[agency] -= 1
        if self.held[agency] <= 0:
            del self.held[agency]
        self.gauge.labels(agency).dec()


class Slot:
    """One held slot; releasing it twice is releasing it once."""

    def __init__(self, slots: Slots, agency: str) -> None:
        self._slots: Slots | None = slots
        self.agency = agency

    def release(self) -> None:
        slots = self._slots
        self._slots = None
        if slots is not None:
            slots._give_back(self.agency)


@dataclass(frozen=True)
class DeliveryLimits:
    """A replica's bounds on streams, pulls and subscriptions."""

    streams: Slots
    pulls: Slots
    subscriptions_per_agency: int

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> DeliveryLimits:
        return cls(
            streams=Slots(
                "streams",
                per_agency=settings.streams_per_agency,
                per_replica=settings.streams_per_replica,
                gauge=STREAMS_OPEN,
                error=TooManyStreams,
            ),
            pulls=Slots(
                "pulls",
                per_agency=settings.pulls_per_agency,
                per_replica=settings.pulls_per_replica,
                gauge=PULLS_IN_FLIGHT,
                error=TooManyPulls,
            ),
            subscriptions_per_agency=settings.subscriptions_per_agency,
        )

    def check_subscriptions(self, agency: str, existing: int) -> None:
        """429 when ``agency``, holding ``existing`` subscriptions, may create no more."""
        if existing >= self.subscriptions_per_agency:
            LIMITED.labels(SUBSCRIPTIONS_PER_AGENCY).inc()
            raise TooManySubscriptions(
                f"agency {agency!r} has {existing} subscriptions, its limit; delete one first",
                headers={"Retry-After": str(RETRY_SUBSCRIPTION)},
            )
