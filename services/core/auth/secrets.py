"""Client secrets: generated once, stored only as slow salted scrypt hashes.

A hash is self-describing (``scrypt$n$r$p$salt_b64$hash_b64``) so the cost can be raised later
without invalidating the secrets already issued. Checking one costs tens of milliseconds on
purpose, which is right for the token endpoint but too much for a Confluent client sending HTTP
Basic on every registry call: :class:`VerifiedSecrets` remembers successful checks for a short
while, keyed by a per-process HMAC of the client id, the secret *and* the stored hash, so a
rotated secret (a new hash) or a changed one never matches an old entry, and the secret itself is
never kept.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

SCHEME: Final = "scrypt"
# n=2**14, r=8, p=1: about 16 MiB and 50 ms a check on a current server core.
DEFAULT_N: Final = 2**14
DEFAULT_R: Final = 8
DEFAULT_P: Final = 1
_SALT_BYTES: Final = 16
_HASH_BYTES: Final = 32
_MAX_N: Final = 2**20  # refuse stored parameters that would exhaust memory
_FIELDS: Final = 6


def new_secret() -> str:
    """A fresh client secret: 32 random bytes, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(32)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(secret: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        secret.encode(), salt=salt, n=n, r=r, p=p, dklen=_HASH_BYTES, maxmem=128 * r * n * 2
    )


def hash_secret(secret: str, *, n: int = DEFAULT_N, r: int = DEFAULT_R, p: int = DEFAULT_P) -> str:
    """The storable hash of ``secret``: ``scrypt$n$r$p$salt$hash`` with a random 16-byte salt."""
    salt = secrets.token_bytes(_SALT_BYTES)
    return f"{SCHEME}${n}${r}${p}${_b64(salt)}${_b64(_scrypt(secret, salt, n, r, p))}"


def verify_secret(secret: str, hashed: str) -> bool:
    """Whether ``secret`` matches ``hashed``, compared in constant time; False for a malformed
    or unknown hash format rather than an error."""
    parts = hashed.split("$")
    if len(parts) != _FIELDS or parts[0] != SCHEME:
        return False
    try:
        n, r, p = (int(v) for v in parts[1:4])
        salt, expected = _unb64(parts[4]), _unb64(parts[5])
    except ValueError:
        return False
    if not (1 < n <= _MAX_N and 0 < r <= 32 and 0 < p <= 16):  # noqa: PLR2004 - sane bounds
        return False
    return hmac.compare_digest(_scrypt(secret, salt, n, r, p), expected)


@functools.cache
def dummy_hash() -> str:
    """A hash to check against when a client does not exist, so that an unknown client id takes as
    long to refuse as a wrong secret and client ids cannot be enumerated by timing."""
    return hash_secret(new_secret())


class VerifiedSecrets:
    """A small TTL cache of successful secret checks (never of failures).

    Keys are ``HMAC(process key, client_id, secret, hash)`` with a random key drawn per process:
    the secret is not kept, nor anything from which it could be guessed offline, a new hash after
    a rotation misses (so the old secret is refused as soon as the caller sees the new hash), and
    a hit still needs the caller to have the current hash and the client's enabled flag (from the
    in-memory view of identities). Per process; at most ``max_entries``.
    """

    def __init__(
        self,
        ttl: float = 300.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()  # the token endpoint checks secrets in worker threads
        self._hmac_key = secrets.token_bytes(32)

    def _key(self, client_id: str, secret: str, hashed: str) -> bytes:
        digest = hmac.new(self._hmac_key, digestmod=hashlib.sha256)
        for part in (client_id, secret, hashed):
            digest.update(part.encode())
            digest.update(b"\0")
        return digest.digest()

    def hit(self, client_id: str, secret: str, hashed: str) -> bool:
        """Whether this exact check succeeded less than ``ttl`` ago (cheap: one HMAC-SHA256)."""
        key = self._key(client_id, secret, hashed)
        with self._lock:
            expires = self._entries.get(key)
        return expires is not None and expires > self._clock()

    def verify(self, client_id: str, secret: str, hashed: str) -> bool:
        """:func:`verify_secret`, answered from the cache when it succeeded recently. Slow on a
        miss: async callers run it in a thread after trying :meth:`hit`."""
        if self.hit(client_id, secret, hashed):
            return True
        if not verify_secret(secret, hashed):
            return False
        key = self._key(client_id, secret, hashed)
        now = self._clock()
        with self._lock:
            self._entries[key] = now + self.ttl
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return True


# The process-wide cache shared by the token endpoint and HTTP Basic authentication.
verified_secrets = VerifiedSecrets()
