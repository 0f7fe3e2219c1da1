"""Keys from a JWKS URL: cached, refetched for an unknown kid at a bounded rate, never symmetric."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from joserfc.jwk import OctKey, RSAKey

from services.core.auth.keys import JwksKeySource, public_keys
from services.core.errors import Unavailable

A = RSAKey.generate_key(2048, {"kid": "a", "alg": "RS256", "use": "sig"})
B = RSAKey.generate_key(2048, {"kid": "b", "alg": "RS256", "use": "sig"})


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Issuer:
    """A JWKS endpoint whose keys and health a test changes."""

    def __init__(self, *keys: RSAKey) -> None:
        self.keys = list(keys)
        self.calls = 0
        self.down = False

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.down:
            return httpx.Response(503)
        return httpx.Response(200, json={"keys": [k.as_dict(private=False) for k in self.keys]})


def source(issuer: Issuer, clock: Clock) -> tuple[JwksKeySource, httpx.AsyncClient]:
    http = httpx.AsyncClient(transport=httpx.MockTransport(issuer.handler))
    keys = JwksKeySource(
        "https://gw/oauth2/jwks", http, cache_seconds=300, refetch_interval=5, clock=clock
    )
    return keys, http


async def test_keys_are_cached_for_the_configured_time() -> None:
    issuer, clock = Issuer(A), Clock()
    keys, http = source(issuer, clock)
    async with http:
        assert (await keys.key("a")) is not None
        clock.now = 299
        assert (await keys.key("a")) is not None
        assert issuer.calls == 1
        clock.now = 301
        await keys.key("a")
        assert issuer.calls == 2


async def test_an_unknown_kid_refetches_at_most_once_per_interval() -> None:
    issuer, clock = Issuer(A), Clock()
    keys, http = source(issuer, clock)
    async with http:
        await keys.key("a")
        issuer.keys.append(B)  # a rotation at the issuer
        clock.now = 1
        assert await keys.key("b") is None  # fetched 1 s ago: not again yet
        clock.now = 6
        assert await keys.key("b") is not None
        calls = issuer.calls
        for _ in range(20):  # forged kids cannot make us hammer the issuer
            assert await keys.key("forged") is None
        assert issuer.calls == calls


async def test_an_issuer_down_keeps_the_cached_keys_but_none_means_unavailable() -> None:
    issuer, clock = Issuer(A), Clock()
    keys, http = source(issuer, clock)
    async with http:
        issuer.down = True
        with pytest.raises(Unavailable):
            await keys.key("a")
        issuer.down = False
        clock.now = 10
        assert await keys.key("a") is not None
        issuer.down = True
        clock.now = 1000  # stale, refresh fails: the old keys still serve
        assert await keys.key("a") is not None


def test_only_public_signature_keys_are_taken() -> None:
    secret = OctKey.generate_key(256, {"kid": "oct"}).as_dict(private=True)
    document: dict[str, Any] = {
        "keys": [
            A.as_dict(private=True),  # a leaked private half is stripped, not trusted
            {**B.as_dict(private=False), "use": "enc"},
            secret,
            {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
            {"kty": "RSA"},
            "junk",
        ]
    }
    found = public_keys(document)
    assert list(found) == ["a"]
    assert found["a"].is_private is False
    with pytest.raises(ValueError, match="JWKS"):
        public_keys({"nokeys": []})
