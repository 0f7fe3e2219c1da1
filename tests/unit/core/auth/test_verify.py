"""The token verifier on its own: keys and the control plane stubbed, every rule exercised."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from joserfc.jwk import ECKey, Key, RSAKey

from services.core.auth.errors import InvalidToken
from services.core.auth.store import AuthStore, TokenStatus
from services.core.auth.verify import Issuer, TokenVerifier
from tests.fixtures.tokens import access_claims, hs256, mint, unsigned

ISS = "https://gw.example"
EXT = "https://keycloak.example/realms/mps"


class StaticKeys:
    def __init__(self, *keys: Key) -> None:
        self.keys = {key.kid: key for key in keys}

    async def key(self, kid: str) -> Key | None:
        return self.keys.get(kid)


class FakeStore:
    """The control plane's answers, settable per test."""

    def __init__(self) -> None:
        self.revoked: set[str] = set()
        self.clients = {"c1": (True, True)}
        self.agencies = {"mps": True}

    async def token_status(self, jti: str | None, client_id: str) -> TokenStatus:
        if client_id not in self.clients:
            return TokenStatus(False, False)
        client, agency = self.clients[client_id]
        return TokenStatus(True, jti in self.revoked, client, agency)

    async def external_token_status(self, jti: str | None, agency: str) -> TokenStatus:
        if agency not in self.agencies:
            return TokenStatus(False, False)
        return TokenStatus(True, jti in self.revoked, True, self.agencies[agency])


def rsa(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, {"kid": kid, "alg": "RS256", "use": "sig"})


OURS, THEIRS = rsa("ours"), rsa("theirs")
EXT_KEY = ECKey.generate_key("P-256", {"kid": "ext", "alg": "ES256"})


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def verifier(store: FakeStore) -> TokenVerifier:
    issuers = [
        Issuer(ISS, "ndxp", StaticKeys(OURS), own=True),
        Issuer(EXT, "ndxp-hub", StaticKeys(EXT_KEY), agency_claim="org", scope_claim="roles"),
    ]
    fake: Any = store
    real_typed: AuthStore = fake
    return TokenVerifier(issuers, real_typed, leeway=30)


def claims(**overrides: Any) -> dict[str, Any]:
    return access_claims(ISS, "c1", "mps", "publish catalog:read", **overrides)


async def refused(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(InvalidToken) as caught:
        await verifier.verify(token)
    assert caught.value.status == 401
    assert 'error="invalid_token"' in caught.value.headers["WWW-Authenticate"]
    return caught.value.message


async def test_a_good_token_gives_its_principal(verifier: TokenVerifier) -> None:
    body = claims()
    verified = await verifier.verify(mint(OURS, body))
    principal = verified.principal
    assert principal.agency == "mps" and principal.client_id == "c1" and principal.issuer == ISS
    assert principal.scopes == {"publish", "catalog:read"}
    assert principal.token_id == body["jti"] and principal.expires_at == body["exp"]
    assert verified.header["kid"] == "ours"


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("", "malformed token"),
        ("abc", "malformed token"),
        ("a.b.c", "malformed token"),
        ("e30.e30.e30.e30", "malformed token"),
        ("W10.e30.", "malformed token"),  # a header that is a list
        ("x" * 9000, "token too large"),
    ],
)
async def test_malformed(verifier: TokenVerifier, token: str, message: str) -> None:
    assert await refused(verifier, token) == message


async def test_alg_none(verifier: TokenVerifier) -> None:
    assert "'none' is not accepted" in await refused(verifier, unsigned(claims(), kid="ours"))


@pytest.mark.parametrize("form", ["pem", "jwk"])
async def test_hmac_with_the_public_key(verifier: TokenVerifier, form: str) -> None:
    public = (
        OURS.as_pem(private=False)
        if form == "pem"
        else json.dumps(OURS.as_dict(private=False)).encode()
    )
    assert "'HS256' is not accepted" in await refused(verifier, hs256(public, claims(), kid="ours"))


async def test_another_key_under_our_kid(verifier: TokenVerifier) -> None:
    assert await refused(verifier, mint(THEIRS, claims(), kid="ours")) == "bad signature"


async def test_unknown_kid(verifier: TokenVerifier) -> None:
    assert await refused(verifier, mint(THEIRS, claims())) == "unknown signing key"
    assert "no key" in await refused(verifier, mint(OURS, claims(), kid=""))


async def test_key_of_the_wrong_type_for_the_alg(verifier: TokenVerifier) -> None:
    # PS256 is an allowed algorithm and this is our key, but the key is published for RS256 only
    unpinned = RSAKey.import_key(
        {k: v for k, v in OURS.as_dict(private=True).items() if k != "alg"}
    )
    token = mint(unpinned, claims(), alg="PS256", kid="ours")
    assert await refused(verifier, token) == "key ours is not for PS256"


@pytest.mark.parametrize("typ", [None, "JWT", "id+jwt", "dpop+jwt"])
async def test_our_tokens_must_say_at_jwt(verifier: TokenVerifier, typ: str | None) -> None:
    assert "not an access token" in await refused(verifier, mint(OURS, claims(), typ=typ))


async def test_wrong_issuer_and_wrong_audience(verifier: TokenVerifier) -> None:
    assert await refused(verifier, mint(OURS, claims(iss="https://evil"))) == "unknown issuer"
    assert await refused(verifier, mint(OURS, claims(aud="other"))) == "invalid claim: aud"


async def test_time_claims_with_leeway(verifier: TokenVerifier) -> None:
    now = int(time.time())
    assert await refused(verifier, mint(OURS, claims(exp=now - 31))) == "token expired"
    await verifier.verify(mint(OURS, claims(exp=now - 20)))  # within the leeway
    assert await refused(verifier, mint(OURS, claims(nbf=now + 60))) == "token not yet valid"
    await verifier.verify(mint(OURS, claims(nbf=now + 20)))
    assert await refused(verifier, mint(OURS, claims(iat=now + 60))) == "token not yet valid"


@pytest.mark.parametrize("missing", ["exp", "iat", "jti", "client_id", "scope", "agency", "sub"])
async def test_our_tokens_carry_every_claim(verifier: TokenVerifier, missing: str) -> None:
    message = await refused(verifier, mint(OURS, claims(**{missing: None})))
    assert message == f"missing claim(s): {missing}"


async def test_revoked_disabled_and_unknown(verifier: TokenVerifier, store: FakeStore) -> None:
    body = claims()
    token = mint(OURS, body)
    store.revoked.add(body["jti"])
    assert await refused(verifier, token) == "token revoked"
    store.revoked.clear()
    store.clients["c1"] = (False, True)
    assert await refused(verifier, token) == "client disabled"
    store.clients["c1"] = (True, False)
    assert await refused(verifier, token) == "agency disabled"
    del store.clients["c1"]
    assert await refused(verifier, token) == "unknown client"


async def test_trusted_external_issuer(verifier: TokenVerifier, store: FakeStore) -> None:
    now = int(time.time())
    body = {"iss": EXT, "aud": "ndxp-hub", "sub": "svc", "azp": "mps-etl", "exp": now + 60,
            "iat": now, "org": "mps", "roles": ["publish"]}  # fmt: skip
    principal = (await verifier.verify(mint(EXT_KEY, body, alg="ES256", typ="JWT"))).principal
    assert (principal.agency, principal.client_id, principal.issuer) == ("mps", "mps-etl", EXT)
    assert principal.scopes == {"publish"}
    store.agencies["mps"] = False
    assert await refused(verifier, mint(EXT_KEY, body, alg="ES256", typ="JWT")) == "agency disabled"
    unknown = {**body, "org": "nowhere"}
    assert (
        await refused(verifier, mint(EXT_KEY, unknown, alg="ES256", typ="JWT")) == "unknown agency"
    )
    # its own audience only, and never an ndxp client's claims from another issuer's key
    assert "aud" in await refused(
        verifier, mint(EXT_KEY, {**body, "aud": "ndxp"}, alg="ES256", typ="JWT")
    )
    assert await refused(verifier, mint(EXT_KEY, claims(), alg="ES256")) == "unknown signing key"
