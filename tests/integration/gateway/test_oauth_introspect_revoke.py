"""Introspection (RFC 7662) and revocation (RFC 7009) over HTTP."""

from __future__ import annotations

import time

import httpx

from tests.fixtures.gateway import Gateway, bearer
from tests.fixtures.tokens import access_claims, mint


async def introspect(
    gateway: Gateway, token: str, client_id: str, secret: str, *, form_auth: bool = False
) -> httpx.Response:
    async with gateway.client() as http:
        if form_auth:
            form = {"token": token, "client_id": client_id, "client_secret": secret}
            return await http.post("/oauth2/introspect", data=form)
        return await http.post(
            "/oauth2/introspect", data={"token": token}, auth=(client_id, secret)
        )


async def revoke(gateway: Gateway, token: str, client_id: str, secret: str) -> httpx.Response:
    async with gateway.client() as http:
        return await http.post("/oauth2/revoke", data={"token": token}, auth=(client_id, secret))


async def me(gateway: Gateway, token: str) -> httpx.Response:
    async with gateway.client() as http:
        return await http.get("/v1/me", headers=bearer(token))


async def test_introspection_of_an_active_token(gateway_server: Gateway) -> None:
    agency = await gateway_server.create_agency()
    client_id, secret = await gateway_server.create_client(agency, ("publish",))
    token = await gateway_server.token(client_id, secret)
    for form_auth in (False, True):
        response = await introspect(gateway_server, token, client_id, secret, form_auth=form_auth)
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        assert body.pop("active") is True and body.pop("token_type") == "Bearer"
        assert body["client_id"] == body["sub"] == client_id and body["agency"] == agency
        assert body["scope"] == "publish" and body["iss"] == gateway_server.issuer
        assert body["aud"] == "ndxp" and body["exp"] - body["iat"] == 900
        assert set(body) == {"scope", "client_id", "sub", "aud", "iss", "exp", "iat", "nbf",
                             "jti", "agency"}  # fmt: skip


async def test_introspection_says_inactive_and_nothing_more(gateway_server: Gateway) -> None:
    agency = await gateway_server.create_agency()
    client_id, secret = await gateway_server.create_client(agency)
    other_id, other_secret = await gateway_server.create_client()
    token = await gateway_server.token(client_id, secret)
    key = await gateway_server.signing_key()
    expired = mint(key, access_claims(gateway_server.issuer, client_id, agency,
                                      exp=int(time.time()) - 3600))  # fmt: skip
    cases = {
        "garbage": (token[:-10], client_id, secret),
        "expired": (expired, client_id, secret),
        "another client's token": (token, other_id, other_secret),
    }
    for name, (presented, caller, caller_secret) in cases.items():
        response = await introspect(gateway_server, presented, caller, caller_secret)
        assert response.status_code == 200, name
        assert response.json() == {"active": False}, name


async def test_an_admin_client_may_introspect_any_token(gateway_server: Gateway) -> None:
    client_id, secret = await gateway_server.create_client()
    admin_id, admin_secret = await gateway_server.create_client(scopes=("admin",))
    token = await gateway_server.token(client_id, secret)
    response = await introspect(gateway_server, token, admin_id, admin_secret)
    assert response.json()["active"] is True and response.json()["client_id"] == client_id


async def test_introspection_needs_client_authentication_and_a_token(
    gateway_server: Gateway,
) -> None:
    client_id, secret = await gateway_server.create_client()
    token = await gateway_server.token(client_id, secret)
    async with gateway_server.client() as http:
        anonymous = await http.post("/oauth2/introspect", data={"token": token})
        wrong = await http.post("/oauth2/introspect", data={"token": token}, auth=(client_id, "x"))
        no_token = await http.post("/oauth2/introspect", data={}, auth=(client_id, secret))
    for response in (anonymous, wrong):
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"
        assert response.headers["www-authenticate"].startswith('Basic realm="ndxp"')
        assert "active" not in response.json()
    assert no_token.status_code == 400 and no_token.json()["error"] == "invalid_request"


async def test_revocation_takes_effect_at_once(gateway_server: Gateway) -> None:
    client_id, secret = await gateway_server.create_client()
    token = await gateway_server.token(client_id, secret)
    kept = await gateway_server.token(client_id, secret)
    assert (await me(gateway_server, token)).status_code == 200

    response = await revoke(gateway_server, token, client_id, secret)
    assert response.status_code == 200 and response.json() == {}

    assert (await introspect(gateway_server, token, client_id, secret)).json() == {"active": False}
    refused = await me(gateway_server, token)
    assert refused.status_code == 401
    assert 'error_description="token revoked"' in refused.headers["www-authenticate"]
    assert (await me(gateway_server, kept)).status_code == 200  # only that token
    # revoking again, or revoking nonsense, is answered 200 as RFC 7009 asks
    assert (await revoke(gateway_server, token, client_id, secret)).status_code == 200
    assert (await revoke(gateway_server, "nonsense", client_id, secret)).status_code == 200


async def test_a_client_cannot_revoke_another_clients_token(gateway_server: Gateway) -> None:
    victim_id, victim_secret = await gateway_server.create_client()
    attacker_id, attacker_secret = await gateway_server.create_client()
    token = await gateway_server.token(victim_id, victim_secret)
    response = await revoke(gateway_server, token, attacker_id, attacker_secret)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert (await me(gateway_server, token)).status_code == 200  # nothing changed
    async with gateway_server.client() as http:
        anonymous = await http.post("/oauth2/revoke", data={"token": token})
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "invalid_client"
    assert (await me(gateway_server, token)).status_code == 200
