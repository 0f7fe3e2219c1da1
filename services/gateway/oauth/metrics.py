"""The authorization server's metrics: tokens issued (by client), token requests refused (by the
OAuth2 error, never by client: a refused request's client id may be anyone's guess), and the age of
the signing key against its rotation period, read from the database at each scrape. Requests
refused by a client's rate limit are counted by core's authenticator
(``ndxp_auth_rate_limited_total``), in every service."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from prometheus_client import Counter, Gauge
from sqlalchemy import select

from services.core.db.models import SigningKey
from services.core.http.state import CoreState
from services.gateway.oauth.keys import StoredKey, choose_signing_key, utcnow

# What the token endpoint answers a refused request (RFC 6749 §5.2, and 429's own).
REFUSALS: Final = (
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
)
DAY: Final = 86_400

TOKENS_ISSUED = Counter(
    "ndxp_auth_tokens_issued_total",
    "Access tokens the gateway issued, by client and the client's agency.",
    ["agency", "client"],
)
TOKEN_REFUSALS = Counter(
    "ndxp_auth_token_refusals_total",
    "Token requests refused, by the OAuth2 error answered (invalid_client: bad credentials).",
    ["reason"],
)
for _reason in REFUSALS:
    TOKEN_REFUSALS.labels(_reason)
SIGNING_KEY_AGE = Gauge(
    "ndxp_auth_signing_key_age_seconds",
    "Time since the gateway's signing key began signing (NaN while no key can sign).",
    multiprocess_mode="livemostrecent",
)
ROTATION_PERIOD = Gauge(
    "ndxp_auth_signing_key_rotation_period_seconds",
    "How often the signing key should be rotated (NDXP_AUTH_KEY_ROTATION_DAYS).",
    multiprocess_mode="livemostrecent",
)


def count_token_answer(status: int, body: Mapping[str, Any], issued: list[dict[str, Any]]) -> None:
    """Count what ``/oauth2/token`` answered: the tokens it issued, or the error it refused with
    (an unknown error code counts as ``invalid_request``, keeping the label set fixed)."""
    for claims in issued:
        TOKENS_ISSUED.labels(claims["agency"], claims["client_id"]).inc()
    if status >= 400:  # noqa: PLR2004 - HTTP's client and server errors
        error = body.get("error")
        TOKEN_REFUSALS.labels(error if error in REFUSALS else "invalid_request").inc()


def signing_key_age(keys: list[StoredKey], now: datetime) -> float | None:
    """Seconds the current signing key has signed; None when no key can sign now."""
    signing = choose_signing_key(keys, now)
    return None if signing is None else (now - signing.active_from).total_seconds()


async def measure_keys(core: CoreState) -> None:
    """Set the signing key's age and the rotation period (each scrape, one small query)."""
    ROTATION_PERIOD.set(core.settings.auth.key_rotation_days * DAY)
    async with core.sessions() as session:
        rows = (await session.scalars(select(SigningKey))).all()
    age = signing_key_age([StoredKey.from_row(row) for row in rows], utcnow())
    SIGNING_KEY_AGE.set(float("nan") if age is None else age)
