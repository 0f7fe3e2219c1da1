"""Attacks on authentication, each refused with the right status and challenge, and nothing changed.

Every forged or unusable credential is tried twice: on the gateway (``GET /v1/me``) and on a
registry that requires tokens, where it tries to register a schema. Afterwards a legitimate
client checks that the subject does not exist: nothing was written.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from dataclasses import dataclass

import httpx
import pytest
from joserfc.jwk import RSAKey

from tests.fixtures.gateway import Gateway, bearer
from tests.fixtures.registry import V1
from tests.fixtures.tokens import access_claims, hs256, mint, unsigned

WITHIN = 1.0  # seconds a revocation or a disabled client may take to reach every service
SCHEMA = {"type": "record", "name": "Probe", "fields": [{"name": "id", "type": "string"}]}


@dataclass
class Target:
    gateway: Gateway
    registry: str
    agency: str
    client_id: str
    secret: str

    def claims(self, **overrides: object) -> dict[str, object]:
        """Claims the gateway would issue this client, with registry:write."""
        return access_claims(
            self.gateway.issuer, self.client_id, self.agency, "registry:write", **overrides
        )

    async def token(self) -> str:
        return await self.gateway.token(self.client_id, self.secret)

    async def refused(
        self, headers: dict[str, str], error: str | None, description: str, *, within: float = 0
    ) -> None:
        """401 with the challenge on both services, and no schema registered. ``within``: the
        seconds a change made behind the services' back may take to reach them (each answers
        from its in-memory view of identities, reloaded when the control plane changes)."""
        subject = f"attack-{uuid.uuid4().hex[:12]}-value"
        async with httpx.AsyncClient(timeout=30) as http:
            await settled(http, f"{self.gateway.url}/v1/me", headers, within)
            await settled(http, f"{self.registry}/config", headers, within)
            on_gateway = await http.get(f"{self.gateway.url}/v1/me", headers=headers)
            on_registry = await http.post(
                f"{self.registry}/subjects/{subject}/versions",
                json={"schema": json.dumps(SCHEMA)},
                headers={**headers, "Content-Type": V1},
            )
            witness = await self.token()
            after = await http.get(
                f"{self.registry}/subjects/{subject}/versions", headers=bearer(witness)
            )
        for response in (on_gateway, on_registry):
            assert response.status_code == 401, response.text
            challenge = response.headers["www-authenticate"]
            assert challenge.startswith('Bearer realm="ndxp"')
            if error is None:
                assert "error=" not in challenge
            else:
                assert f'error="{error}"' in challenge
                assert f'error_description="{description}"' in challenge
        assert on_gateway.json()["code"] == (error or "unauthorized")
        assert on_registry.json()["error_code"] == 401
        assert after.status_code == 404 and after.json()["error_code"] == 40401


async def settled(
    http: httpx.AsyncClient, url: str, headers: dict[str, str], within: float
) -> None:
    """``url`` refuses ``headers`` to a request sent ``within`` seconds from now (the change
    was just made)."""
    await asyncio.sleep(within)
    answer = await http.get(url, headers=headers)
    assert answer.status_code == 401, f"{url} still accepts the credentials after {within:g} s"


@pytest.fixture
async def target(gateway_server: Gateway, protected_registry: str) -> Target:
    agency = await gateway_server.create_agency()
    client_id, secret = await gateway_server.create_client(agency, ("registry:write",))
    return Target(gateway_server, protected_registry, agency, client_id, secret)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def public_key_of(gateway: Gateway) -> RSAKey:
    """What any attacker can read: the published key."""
    async with gateway.client() as http:
        return RSAKey.import_key((await http.get("/oauth2/jwks")).json()["keys"][0])


async def test_no_token(target: Target) -> None:
    await target.refused({}, None, "")


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c", "eyJhbGciOiJSUzI1NiJ9..", "Bearer"])
async def test_malformed_token(target: Target, token: str) -> None:
    await target.refused(bearer(token), "invalid_token", "malformed token")


async def test_alg_none(target: Target) -> None:
    kid = (await public_key_of(target.gateway)).kid
    token = unsigned(target.claims(), kid=kid)
    await target.refused(bearer(token), "invalid_token", "algorithm 'none' is not accepted")


@pytest.mark.parametrize("form", ["pem", "jwk"])
async def test_hs256_signed_with_the_public_key(target: Target, form: str) -> None:
    public = await public_key_of(target.gateway)
    secret = (
        public.as_pem(private=False)
        if form == "pem"
        else json.dumps(public.as_dict(private=False)).encode()
    )
    token = hs256(secret, target.claims(), kid=public.kid)
    await target.refused(bearer(token), "invalid_token", "algorithm 'HS256' is not accepted")


async def test_wrong_issuer(target: Target) -> None:
    key = await target.gateway.signing_key()
    token = mint(key, target.claims(iss="https://evil.example"))
    await target.refused(bearer(token), "invalid_token", "unknown issuer")


async def test_wrong_audience(target: Target) -> None:
    key = await target.gateway.signing_key()
    token = mint(key, target.claims(aud="another-service"))
    await target.refused(bearer(token), "invalid_token", "invalid claim: aud")


async def test_expired(target: Target) -> None:
    key = await target.gateway.signing_key()
    now = int(time.time())
    token = mint(key, target.claims(iat=now - 1000, nbf=now - 1000, exp=now - 60))
    await target.refused(bearer(token), "invalid_token", "token expired")


async def test_not_yet_valid(target: Target) -> None:
    key = await target.gateway.signing_key()
    token = mint(key, target.claims(nbf=int(time.time()) + 120))  # leeway is 30 s
    await target.refused(bearer(token), "invalid_token", "token not yet valid")


async def test_unknown_kid(target: Target) -> None:
    stranger = RSAKey.generate_key(2048, {"alg": "RS256"}, auto_kid=True)
    await target.refused(bearer(mint(stranger, target.claims())), "invalid_token",
                         "unknown signing key")  # fmt: skip


async def test_another_key_under_the_gateways_kid(target: Target) -> None:
    kid = (await public_key_of(target.gateway)).kid
    stranger = RSAKey.generate_key(2048, {"alg": "RS256"})
    token = mint(stranger, target.claims(), kid=kid)
    await target.refused(bearer(token), "invalid_token", "bad signature")


async def test_signed_jwt_that_is_not_an_access_token(target: Target) -> None:
    key = await target.gateway.signing_key()
    token = mint(key, target.claims(), typ="JWT")  # e.g. an ID token replayed as access token
    await target.refused(bearer(token), "invalid_token", "token type 'JWT' is not an access token")


async def test_revoked(target: Target) -> None:
    token = await target.token()
    async with target.gateway.client() as http:
        revoked = await http.post(
            "/oauth2/revoke", data={"token": token}, auth=(target.client_id, target.secret)
        )
    assert revoked.status_code == 200
    await target.refused(bearer(token), "invalid_token", "token revoked", within=WITHIN)


async def test_disabled_client(target: Target, gateway_server: Gateway) -> None:
    token = await target.token()
    owner, owner_secret = target.client_id, target.secret
    # the witness is another client of the same agency: only the disabled one is refused
    target.client_id, target.secret = await gateway_server.create_client(
        target.agency, ("registry:write",)
    )
    await gateway_server.set_client_enabled(owner, False)
    await target.refused(bearer(token), "invalid_token", "client disabled", within=WITHIN)
    credentials = basic(owner, owner_secret)
    await target.refused({"Authorization": credentials}, "invalid_token", "client disabled")
    refused = await gateway_server.token_response(owner, owner_secret)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"


async def test_disabled_agency(gateway_server: Gateway, protected_registry: str) -> None:
    agency = await gateway_server.create_agency()
    client_id, secret = await gateway_server.create_client(agency, ("registry:write",))
    token = await gateway_server.token(client_id, secret)
    witness = await gateway_server.create_client(scopes=("registry:write",))
    target = Target(gateway_server, protected_registry, agency, *witness)
    await gateway_server.set_agency_enabled(agency, False)
    await target.refused(bearer(token), "invalid_token", "agency disabled", within=WITHIN)
    refused = await gateway_server.token_response(client_id, secret)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"


async def test_wrong_basic_credentials_at_a_resource(target: Target) -> None:
    for user, password in ((target.client_id, "wrong"), ("nobody", target.secret)):
        credentials = basic(user, password)
        await target.refused(
            {"Authorization": credentials}, "invalid_token", "invalid client credentials"
        )


# --- at the token endpoint -----------------------------------------------------------------


@pytest.mark.parametrize("scope", ["registry:write", "catalog:read admin", "root"])
async def test_asking_for_scopes_the_client_lacks(gateway_server: Gateway, scope: str) -> None:
    client_id, secret = await gateway_server.create_client(scopes=("catalog:read",))
    response = await gateway_server.token_response(client_id, secret, scope)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    assert "access_token" not in response.json()


async def test_wrong_client_secret_and_unknown_client_look_the_same(
    gateway_server: Gateway,
) -> None:
    client_id, secret = await gateway_server.create_client()
    wrong = await gateway_server.token_response(client_id, secret + "x")
    unknown = await gateway_server.token_response("no-such-client", secret)
    async with gateway_server.client() as http:
        anonymous = await http.post("/oauth2/token", data={"grant_type": "client_credentials"})
        by_form = await http.post(
            "/oauth2/token",
            data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": "x"},
        )
    for response in (wrong, unknown, anonymous, by_form):
        assert response.status_code == 401
        assert response.json() == {
            "error": "invalid_client",
            "error_description": "client authentication failed",
        }
        assert response.headers["www-authenticate"] == (
            'Basic realm="ndxp", error="invalid_client", '
            'error_description="client authentication failed"'
        )


@pytest.mark.parametrize("grant_type", ["password", "authorization_code", "refresh_token", None])
async def test_unsupported_grant_type(gateway_server: Gateway, grant_type: str | None) -> None:
    client_id, secret = await gateway_server.create_client()
    form = {"grant_type": grant_type} if grant_type else {"scope": "catalog:read"}
    async with gateway_server.client() as http:
        response = await http.post("/oauth2/token", data=form, auth=(client_id, secret))
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"
    assert "access_token" not in response.json()
