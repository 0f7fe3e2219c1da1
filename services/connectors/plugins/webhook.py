"""``webhook-sink``: a dataset's records pushed to a consumer's HTTPS endpoint, signed.

Each request carries up to ``batch_size`` records, in order, as
``{"records": [{"event_id", "key", "partition", "offset", "timestamp", "value"}, ...]}`` (UTF-8
JSON; ``value`` is the record in the codec's canonical JSON form, ``timestamp`` the Kafka record's
time in UTC). The requests of one :meth:`WebhookSink.put` go one after the other, so a receiver sees
the records in the order of the topic.

**Signing.** ``ndxp-signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``.
The time is inside the MAC, so a captured request cannot be replayed later under another time, and
a receiver refuses an old ``t`` (:func:`verify_signature` does both, in constant time). Every
attempt is signed afresh; the body and ``ndxp-delivery-id`` (derived from the first and last event
ids of the request) stay the same across retries, so a receiver can drop a repeat it already took.

**Destinations.** Every connection is made through :mod:`services.core.http.guarded`: the host
is resolved, each address judged by the operator's policy (``NDXP_PUSH_ALLOWED_NETWORKS``; by
default loopback, link-local, unspecified and multicast addresses are refused) and the checked
address is the one connected to, so a name re-pointed at the workers' own host is refused as well.
A refused destination is a connection error: retried, then dead-lettered with the reason; no
request reaches it. Redirects are not followed (a 3xx is a refusal like any other 4xx).

**Retries.** A connection error, a timeout, 408, 429 (after ``Retry-After``) and 5xx are retried
with doubling back-off up to ``max_attempts``; then the request's records are returned as
:class:`Rejected` (the worker dead-letters them) and delivery goes on with the next request: one
endpoint that is down for long does not stop the topic, and nothing is lost silently. Any other
status outside 2xx is permanent: the records are rejected at once with the status and the start of
the response body.

**Traces.** With traces on, each request carries the ``traceparent`` of the worker's ``deliver``
span (:mod:`services.core.tracing`), so the receiver's own spans join the trace.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import ssl
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Final, Self

import httpx
from pydantic import Field, SecretStr, field_validator, model_validator

from services.connectors.excerpts import excerpt
from services.connectors.plugin import PluginConfig, Rejected, SinkConnector, SinkRecord
from services.connectors.secrets import REFERENCE, resolve
from services.core.http.destinations import DestinationPolicy
from services.core.http.endpoints import check_endpoint_url
from services.core.http.guarded import guarded_client
from services.core.kafka.headers import utc_millis
from services.core.tracing import propagated

log = logging.getLogger(__name__)

SIGNATURE_HEADER: Final = "ndxp-signature"
DELIVERY_HEADER: Final = "ndxp-delivery-id"
SIGNATURE_SCHEME: Final = "v1"
MAX_TIMESTAMP_DIGITS: Final = 12
DELIVERY_NAMESPACE: Final = uuid.UUID("0b6f6c1e-3d52-5a8e-9c47-2f1d8e7a4b90")
RESERVED_HEADERS: Final = frozenset(
    {SIGNATURE_HEADER, DELIVERY_HEADER, "content-type", "content-length", "host"}
)
RETRIED_STATUSES: Final = frozenset({408, 429})


class WebhookSinkConfig(PluginConfig):
    url: str = Field(description="The endpoint; https unless the host is loopback.")
    secret: SecretStr = Field(
        description="HMAC key of the signatures, or ${env:NAME} to read it from the environment."
    )
    batch_size: int = Field(default=100, ge=1, le=10_000, description="Records per request.")
    timeout_seconds: float = Field(default=10.0, gt=0, description="Per request.")
    max_attempts: int = Field(default=8, ge=1, le=100, description="Tries of one request.")
    backoff_seconds: float = Field(default=1.0, ge=0, description="First wait; doubled each try.")
    max_backoff_seconds: float = Field(
        default=60.0, ge=0, description="Longest wait, also for a Retry-After."
    )
    ca_file: str | None = Field(default=None, description="CA bundle (PEM) to trust.")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra static headers.")

    @field_validator("url")
    @classmethod
    def _secure_url(cls, url: str) -> str:
        return check_endpoint_url(url)

    @field_validator("secret")
    @classmethod
    def _usable_secret(cls, secret: SecretStr) -> SecretStr:
        value = secret.get_secret_value()
        if not value:
            raise ValueError("must not be empty")
        if "${" in REFERENCE.sub("", value):  # a typo must not become the secret itself
            raise ValueError("a reference must read ${env:NAME}")
        return secret

    @field_validator("headers")
    @classmethod
    def _own_headers(cls, headers: dict[str, str]) -> dict[str, str]:
        taken = sorted(name for name in headers if name.lower() in RESERVED_HEADERS)
        if taken:
            raise ValueError(f"the sink sets {', '.join(taken)} itself")
        return headers

    @model_validator(mode="after")
    def _backoff_cap(self) -> Self:
        if self.max_backoff_seconds < self.backoff_seconds:
            raise ValueError("max_backoff_seconds must be at least backoff_seconds")
        return self


def _mac(secret: str | bytes, timestamp: int, body: bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str | bytes, body: bytes, timestamp: int | None = None) -> str:
    """The ``ndxp-signature`` header value of ``body`` at ``timestamp`` (unix seconds; now)."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},{SIGNATURE_SCHEME}={_mac(secret, t, body)}"


def verify_signature(
    secret: str | bytes,
    header: str,
    body: bytes,
    tolerance_seconds: float = 300,
    now: float | None = None,
) -> bool:
    """Whether ``header`` (an ``ndxp-signature`` value) signs ``body`` with ``secret`` and its
    time is within ``tolerance_seconds`` of ``now`` (unix seconds; the clock's). Several ``v1``
    values are allowed (one per secret while a secret is rotated); any one matching is enough."""
    timestamp: int | None = None
    macs: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            return False
        if name == "t":
            if timestamp is not None or not (value.isascii() and value.isdigit()):
                return False
            if len(value) > MAX_TIMESTAMP_DIGITS:  # not a time; int() and float maths would raise
                return False
            timestamp = int(value)
        elif name == SIGNATURE_SCHEME:
            macs.append(value)
    if timestamp is None or not macs:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        return False
    expected = _mac(secret, timestamp, body).encode()
    matched = False
    for mac in macs:  # every candidate is compared: the time taken tells nothing
        matched |= hmac.compare_digest(expected, mac.encode())
    return matched


def _iso_utc(epoch_millis: int) -> str:
    return utc_millis(datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=epoch_millis))


def encode_body(records: Sequence[SinkRecord]) -> bytes:
    """The request body delivering ``records``, in order."""
    items = [
        {
            "event_id": record.event_id,
            "key": record.key,
            "partition": record.partition,
            "offset": record.offset,
            "timestamp": _iso_utc(record.timestamp),
            "value": record.json,
        }
        for record in records
    ]
    return json.dumps({"records": items}, ensure_ascii=False, separators=(",", ":")).encode()


def delivery_id(records: Sequence[SinkRecord]) -> str:
    """Stable across retries of the same request: receivers use it to drop repeats."""
    # Every record counts: after a crash a batch may hold the same first and last records and
    # more between them (records come partition by partition); that is another delivery.
    name = "\n".join(_identity(record) for record in records)
    return str(uuid.uuid5(DELIVERY_NAMESPACE, name))


def _identity(record: SinkRecord) -> str:
    return record.event_id or f"{record.topic}/{record.partition}/{record.offset}"


@dataclass(frozen=True)
class Outcome:
    """What one attempt gave: accepted, worth another try (after ``wait`` at least), or refused."""

    accepted: bool
    retry: bool
    reason: str
    wait: float = 0.0


class WebhookSink(SinkConnector):
    """Delivers each batch as signed HTTPS requests of ``batch_size`` records."""

    Config = WebhookSinkConfig
    config: WebhookSinkConfig
    client: httpx.AsyncClient | None = None
    secret: str = ""

    async def start(self) -> None:
        # the worker resolves ${env:NAME} before the settings are validated; a sink built some
        # other way (a test, a script) reads the variable here
        self.secret = str(resolve(self.config.secret.get_secret_value()))
        verify: ssl.SSLContext | bool = True
        if self.config.ca_file is not None:
            verify = await asyncio.to_thread(_trusting, self.config.ca_file)
        # every connection is checked against the operator's allow-list, by the address connected
        # to (a name is resolved and judged each time), never by the URL's text
        self.client = guarded_client(
            DestinationPolicy.from_env(),
            verify,
            timeout=self.config.timeout_seconds,
            headers={"user-agent": f"ndxp-webhook-sink/{self.version}", **self.config.headers},
        )

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.aclose()
            self.client = None

    async def put(self, records: Sequence[SinkRecord]) -> Sequence[Rejected]:
        rejected = [
            Rejected(record, "the record has no decoded value")
            for record in records
            if record.json is None
        ]
        deliverable = [record for record in records if record.json is not None]
        size = self.config.batch_size
        for start in range(0, len(deliverable), size):
            rejected.extend(await self._deliver(deliverable[start : start + size]))
        return rejected

    async def _deliver(self, records: Sequence[SinkRecord]) -> list[Rejected]:
        body, delivery = encode_body(records), delivery_id(records)
        delay = self.config.backoff_seconds
        attempts = self.config.max_attempts
        for attempt in range(1, attempts + 1):
            outcome = await self._attempt(body, delivery)
            if outcome.accepted:
                return []
            if not outcome.retry:
                return [Rejected(record, outcome.reason) for record in records]
            if attempt < attempts:
                wait = min(max(delay, outcome.wait), self.config.max_backoff_seconds)
                log.warning(
                    "webhook %s delivery %s: %s (try %d of %d), retrying in %.1fs",
                    self.name,
                    delivery,
                    outcome.reason,
                    attempt,
                    attempts,
                    wait,
                )
                await asyncio.sleep(wait)
                delay = min(delay * 2, self.config.max_backoff_seconds)
        reason = f"{outcome.reason}, after {attempts} attempt(s)"
        log.error("webhook %s delivery %s given up: %s", self.name, delivery, reason)
        return [Rejected(record, reason) for record in records]

    async def _attempt(self, body: bytes, delivery: str) -> Outcome:
        assert self.client is not None  # noqa: S101 - started first
        headers = {
            "content-type": "application/json",
            SIGNATURE_HEADER: sign(self.secret, body),
            DELIVERY_HEADER: delivery,
            **propagated(),  # the delivery's span, when traces are on
        }
        try:
            response = await self.client.post(self.config.url, content=body, headers=headers)
        except httpx.TransportError as exc:  # refused, reset, TLS, timeouts: maybe transient
            return Outcome(accepted=False, retry=True, reason=_describe(exc))
        status = response.status_code
        if response.is_success:
            return Outcome(accepted=True, retry=False, reason="")
        if status in RETRIED_STATUSES or status >= 500:  # noqa: PLR2004 - server errors
            wait = _retry_after(response.headers.get("retry-after"))
            return Outcome(accepted=False, retry=True, reason=f"HTTP {status}", wait=wait)
        quoted = excerpt(response.text)
        reason = f"HTTP {status}: {quoted}" if quoted else f"HTTP {status}"
        return Outcome(accepted=False, retry=False, reason=reason)


def _trusting(ca_file: str) -> ssl.SSLContext:
    """A TLS context that trusts the certificates of ``ca_file`` (and only those)."""
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise RuntimeError(f"ca_file {ca_file} cannot be loaded: {exc}") from exc


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _retry_after(value: str | None, now: float | None = None) -> float:
    """Seconds a ``Retry-After`` asks for (a number of seconds or an HTTP date); 0 if none."""
    if not value:
        return 0.0
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


__all__ = [
    "DELIVERY_HEADER",
    "SIGNATURE_HEADER",
    "WebhookSink",
    "WebhookSinkConfig",
    "delivery_id",
    "encode_body",
    "sign",
    "verify_signature",
]
