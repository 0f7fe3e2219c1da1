"""The gateway's token signing keys, in the control plane, private halves encrypted (``kek.py``).

A key's life: created and published in JWKS at once; signing from ``active_from``; no longer
signing from ``retired_at``; left in JWKS until every token it signed has expired
(``retired_at + token_lifetime + leeway``). ``rotate`` makes a key active ``jwks_cache_seconds``
after its creation, so every verifier has fetched it before the first token it signs arrives, and
retires the current key at that moment; ``immediate=True`` (the first key, tests, an emergency)
signs at once. The signing key is the newest key that is active and not retired: replicas that
raced to create the first key agree on it without coordination.

Each replica caches the table (it is a handful of rows) for a few seconds, and reads a key it does
not know by its kid, so a key created by another replica is honoured at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from joserfc.jwk import Key, KeyParameters, RSAKey
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.config import ServiceSettings
from services.core.db.models import SigningKey
from services.gateway.oauth.kek import load_kek, seal, unseal

ALGORITHM: Final = "RS256"
KEY_BITS: Final = 2048
_MAX_REFRESH_SECONDS: Final = 5.0
_CREATE_ATTEMPTS: Final = 3


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class StoredKey:
    kid: str
    algorithm: str
    public_jwk: dict[str, Any]
    sealed_private: str
    created_at: datetime
    active_from: datetime
    retired_at: datetime | None

    def can_sign(self, now: datetime) -> bool:
        return self.active_from <= now and (self.retired_at is None or self.retired_at > now)

    def published(self, now: datetime, grace: timedelta) -> bool:
        return self.retired_at is None or self.retired_at + grace > now

    @classmethod
    def from_row(cls, row: SigningKey) -> StoredKey:
        return cls(
            row.kid,
            row.algorithm,
            dict(row.public_jwk),
            row.private_key,
            row.created_at,
            row.active_from,
            row.retired_at,
        )


def choose_signing_key(keys: Sequence[StoredKey], now: datetime) -> StoredKey | None:
    """The newest key able to sign now; ties (replicas racing at first start) go by kid."""
    candidates = [key for key in keys if key.can_sign(now)]
    return max(candidates, key=lambda k: (k.active_from, k.created_at, k.kid), default=None)


def key_state(key: StoredKey, signing: StoredKey | None, now: datetime, grace: timedelta) -> str:
    """``signing``, ``next`` (published, not yet signing), ``standby``, ``retired`` (still
    published for its tokens) or ``expired`` (gone from JWKS)."""
    if not key.published(now, grace):
        return "expired"
    if key.retired_at is not None and key.retired_at <= now:
        return "retired"
    if key.active_from > now:
        return "next"
    return "signing" if signing is not None and key.kid == signing.kid else "standby"


def generate_key(kek: bytes, active_from: datetime, now: datetime) -> SigningKey:
    """A new RSA key as a row: kid = RFC 7638 thumbprint, private half sealed under ``kek``."""
    key = RSAKey.generate_key(KEY_BITS, {"alg": ALGORITHM, "use": "sig"}, auto_kid=True)
    kid = key.thumbprint()
    public = {**key.as_dict(private=False), "kid": kid, "alg": ALGORITHM, "use": "sig"}
    return SigningKey(
        kid=kid,
        algorithm=ALGORITHM,
        private_key=seal(kek, key.as_pem(private=True), kid),
        public_jwk=public,
        created_at=now,
        active_from=active_from,
        retired_at=None,
    )


class KeyStore:
    """Signing keys for the token endpoint, JWKS for the world, verification keys by kid."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: ServiceSettings,
        *,
        kek: bytes | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        auth = settings.auth
        self.sessions = sessions
        self.kek = kek if kek is not None else load_kek(settings)
        self.grace = timedelta(seconds=auth.token_lifetime + auth.leeway)
        self.publish_ahead = timedelta(seconds=auth.jwks_cache_seconds)
        self.refresh_seconds = min(_MAX_REFRESH_SECONDS, auth.jwks_cache_seconds / 2)
        self.jwks_cache_seconds = auth.jwks_cache_seconds
        self._clock = clock
        self._keys: dict[str, StoredKey] = {}
        self._loaded_at: float | None = None
        self._private: dict[str, RSAKey] = {}
        self._public: dict[str, RSAKey] = {}

    def now(self) -> datetime:
        return self._clock()

    # --- reading ---------------------------------------------------------------------------

    async def keys(self, *, fresh: bool = False) -> list[StoredKey]:
        """Every stored key, from a cache at most a few seconds old (or ``fresh``)."""
        age = None if self._loaded_at is None else time.monotonic() - self._loaded_at
        if fresh or age is None or age >= self.refresh_seconds:
            async with self.sessions() as session:
                rows = (await session.scalars(select(SigningKey))).all()
            self._keys = {row.kid: StoredKey.from_row(row) for row in rows}
            self._loaded_at = time.monotonic()
        return list(self._keys.values())

    async def _by_kid(self, kid: str) -> StoredKey | None:
        if kid not in self._keys:
            async with self.sessions() as session:
                row = await session.get(SigningKey, kid)
            if row is not None:
                self._keys[kid] = StoredKey.from_row(row)
        await self.keys()  # keep retirement dates fresh
        return self._keys.get(kid)

    async def key(self, kid: str) -> Key | None:
        """The public key ``kid`` while it is published (the verifier's key source)."""
        stored = await self._by_kid(kid)
        if stored is None or not stored.published(self._clock(), self.grace):
            return None
        public = self._public.get(kid)
        if public is None:
            public = self._public[kid] = RSAKey.import_key(stored.public_jwk)
        return public

    async def jwks(self) -> dict[str, Any]:
        now = self._clock()
        keys = sorted(await self.keys(), key=lambda k: k.created_at, reverse=True)
        return {"keys": [k.public_jwk for k in keys if k.published(now, self.grace)]}

    async def signing_key(self) -> RSAKey:
        """The private key tokens are signed with now (created if there is none at all)."""
        current = choose_signing_key(await self.keys(), self._clock())
        if current is None:
            current = await self.ensure_signing_key()
        return self.open_key(current)

    def open_key(self, stored: StoredKey) -> RSAKey:
        """The private key of ``stored``, decrypted (KeyEncryptionError with a wrong KEK)."""
        private = self._private.get(stored.kid)
        if private is None:
            pem = unseal(self.kek, stored.sealed_private, stored.kid)
            params: KeyParameters = {"kid": stored.kid, "alg": stored.algorithm, "use": "sig"}
            private = self._private[stored.kid] = RSAKey.import_key(pem, params)
        return private

    # --- writing ---------------------------------------------------------------------------

    async def ensure_signing_key(self) -> StoredKey:
        """The current signing key, creating an immediately active one when none can sign (first
        start). Replicas racing here each insert a key with its own kid; all then agree on the
        newest. Checks the key opens with our key-encryption key, so a wrong one fails at start."""
        for _ in range(_CREATE_ATTEMPTS):
            current = choose_signing_key(await self.keys(fresh=True), self._clock())
            if current is not None:
                self.open_key(current)
                return current
            try:
                await self._insert(immediate=True)
            except IntegrityError:  # another replica's key, or a kid collision: look again
                continue
        raise RuntimeError("could not create a signing key")

    async def rotate(self, *, immediate: bool = False) -> StoredKey:
        """A new key, published now, signing after ``jwks_cache_seconds`` (or now); the keys
        signing until then are retired at that moment."""
        stored = await self._insert(immediate=immediate)
        await self.keys(fresh=True)
        return stored

    async def _insert(self, *, immediate: bool) -> StoredKey:
        now = self._clock()
        active_from = now if immediate else now + self.publish_ahead
        row = await asyncio.to_thread(generate_key, self.kek, active_from, now)
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(SigningKey)
                .where(or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > active_from))
                .values(retired_at=active_from)
            )
            session.add(row)
        return StoredKey.from_row(row)
