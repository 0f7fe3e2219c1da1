"""Where a verifier finds the public key named by a token's ``kid``.

The gateway reads its own signing keys from the control plane (``services.gateway.oauth.keys``);
every other service, and every trusted external issuer, is a :class:`JwksKeySource`: the issuer's
JWKS fetched over HTTP, kept ``jwks_cache_seconds``, and fetched again when a token names a key it
does not know (at most once per ``refetch_interval``, so forged kids cannot make us hammer the
issuer).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, Protocol

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, Key, RSAKey, import_key

from services.core.errors import Unavailable

log = logging.getLogger(__name__)

# Only asymmetric keys can come from a JWKS: a symmetric ("oct") key there would let anyone who
# reads the JWKS sign tokens.
_KEY_TYPES: Final = frozenset({"RSA", "EC"})
_MAX_JWKS_BYTES: Final = 256 * 1024


class KeySource(Protocol):
    """Public keys by id."""

    async def key(self, kid: str) -> Key | None:
        """The verification key ``kid``, or None when the issuer does not publish it."""
        ...


def public_keys(jwks: Mapping[str, Any]) -> dict[str, RSAKey | ECKey]:
    """The usable signature keys of a JWKS document, by kid; others are skipped with a warning."""
    found: dict[str, RSAKey | ECKey] = {}
    entries = jwks.get("keys")
    if not isinstance(entries, list):
        raise ValueError("not a JWKS: no 'keys' list")  # noqa: TRY004 - a bad document, not a bug
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("kty") not in _KEY_TYPES:
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or entry.get("use", "sig") != "sig":
            continue
        public = {k: v for k, v in entry.items() if k not in {"d", "p", "q", "dp", "dq", "qi"}}
        try:
            key = import_key(public)
        except (JoseError, ValueError, TypeError) as exc:
            log.warning("skipping JWKS key %s: %s", kid, exc)
            continue
        if isinstance(key, RSAKey | ECKey):
            found[kid] = key
    return found


class JwksKeySource:
    """An issuer's keys from its JWKS URL, cached."""

    def __init__(
        self,
        url: str,
        http: httpx.AsyncClient,
        *,
        cache_seconds: float = 300.0,
        refetch_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._http = http
        self._cache_seconds = cache_seconds
        self._refetch_interval = refetch_interval
        self._clock = clock
        self._keys: dict[str, RSAKey | ECKey] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = asyncio.Lock()

    @property
    def kids(self) -> Iterable[str]:
        return tuple(self._keys)

    def _stale(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at > self._cache_seconds

    async def key(self, kid: str) -> Key | None:
        if self._stale() or kid not in self._keys:
            await self._refresh()
        if self._fetched_at is None:
            raise Unavailable(f"cannot fetch the issuer's keys from {self.url}")
        return self._keys.get(kid)

    async def _refresh(self) -> None:
        async with self._lock:
            now = self._clock()
            # Also covers "another request refreshed while we waited for the lock".
            if self._attempted_at is not None and now - self._attempted_at < self._refetch_interval:
                return
            self._attempted_at = now
            try:
                keys = await self._fetch()
            except (httpx.HTTPError, ValueError) as exc:
                # Keep the keys we have: an issuer briefly down must not fail every request.
                log.warning("fetching the JWKS from %s failed: %s", self.url, exc)
                return
            self._keys, self._fetched_at = keys, now

    async def _fetch(self) -> dict[str, RSAKey | ECKey]:
        response = await self._http.get(self.url, headers={"Accept": "application/json"})
        response.raise_for_status()
        if len(response.content) > _MAX_JWKS_BYTES:
            raise ValueError(f"JWKS larger than {_MAX_JWKS_BYTES} bytes")
        document = response.json()
        if not isinstance(document, dict):
            raise ValueError("JWKS is not a JSON object")  # noqa: TRY004 - as above
        keys = public_keys(document)
        log.info("fetched %d key(s) from %s", len(keys), self.url)
        return keys
