"""Which key signs, and what ``ndxp keys list`` calls each key, at a given moment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.gateway.oauth.keys import StoredKey, choose_signing_key, key_state
from services.gateway.oauth.metrics import signing_key_age

T0 = datetime(2026, 1, 1, tzinfo=UTC)
GRACE = timedelta(seconds=930)


def key(kid: str, active: int, retired: int | None = None, created: int | None = None) -> StoredKey:
    return StoredKey(
        kid=kid,
        algorithm="RS256",
        public_jwk={},
        sealed_private="",
        created_at=T0 + timedelta(seconds=active if created is None else created),
        active_from=T0 + timedelta(seconds=active),
        retired_at=None if retired is None else T0 + timedelta(seconds=retired),
    )


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_rotation_timeline() -> None:
    old = key("old", active=0, retired=300)
    new = key("new", active=300, created=0)  # published at 0, signing from 300
    keys = [old, new]
    assert choose_signing_key(keys, at(10)) is old
    assert [key_state(k, old, at(10), GRACE) for k in keys] == ["signing", "next"]
    assert choose_signing_key(keys, at(300)) is new
    assert [key_state(k, new, at(300), GRACE) for k in keys] == ["retired", "signing"]
    # the old key stays published until its last token (signed just before 300) has expired
    assert old.published(at(300 + 929), GRACE) and not old.published(at(300 + 930), GRACE)
    assert key_state(old, new, at(1300), GRACE) == "expired"


def test_racing_first_keys_agree_on_one() -> None:
    a, b = key("a", active=0), key("b", active=0)
    assert choose_signing_key([a, b], at(1)) is b
    assert choose_signing_key([b, a], at(1)) is b
    assert key_state(a, b, at(1), GRACE) == "standby"


def test_no_key_can_sign() -> None:
    assert choose_signing_key([], at(0)) is None
    assert choose_signing_key([key("x", active=0, retired=5)], at(5)) is None
    assert choose_signing_key([key("y", active=10)], at(5)) is None


def test_the_signing_key_age_is_since_it_began_signing() -> None:
    old = key("old", active=0, retired=300)
    new = key("new", active=300, created=0)
    assert signing_key_age([old, new], at(250)) == 250
    assert signing_key_age([old, new], at(400)) == 100  # the new key, from when it signs
    assert signing_key_age([key("later", active=500)], at(400)) is None  # none signs yet
