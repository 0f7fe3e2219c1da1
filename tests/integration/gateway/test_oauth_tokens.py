"""The token endpoint, the JWKS and the metadata document, as an OAuth2 client sees them."""

from __future__ import annotations

import time
from pathlib import Path

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from tests.fixtures.gateway import Gateway, bearer, gateway_settings, serve_gateway

CLAIMS = {"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope", "agency"}


async def test_token_by_http_basic_and_by_form_post(gateway_server: Gateway) -> None:
    client_id, secret = await gateway_server.create_client(scopes=("publish", "catalog:read"))
    async with gateway_server.client() as http:
        basic = await http.post(
            "/oauth2/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
        )
        form = await http.post(
            "/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret,
                "scope": "publish",
            },
        )
    for response in (basic, form):
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
        assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    # no scope asked: every scope the client has; asked: exactly those
    assert basic.json()["scope"] == "catalog:read publish"
    assert form.json()["scope"] == "publish"


async def test_access_token_is_an_rfc9068_jwt_that_verifies_with_the_published_jwks(
    gateway_server: Gateway,
) -> None:
    agency = await gateway_server.create_agency()
    client_id, secret = await gateway_server.create_client(agency, ("publish", "subscribe"))
    token = await gateway_server.token(client_id, secret, "subscribe")
    async with gateway_server.client() as http:
        jwks = (await http.get("/oauth2/jwks")).json()

    # verified independently of ndxp's code: joserfc and the JWKS document alone
    decoded = jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["RS256"])
    header, claims = decoded.header, decoded.claims
    assert set(header) == {"typ", "alg", "kid"}
    assert (header["typ"], header["alg"]) == ("at+jwt", "RS256")
    published = next(key for key in jwks["keys"] if key["kid"] == header["kid"])
    assert RSAKey.import_key(published).thumbprint() == header["kid"]  # RFC 7638 kid

    assert set(claims) == CLAIMS
    assert claims["iss"] == gateway_server.issuer and claims["aud"] == "ndxp"
    assert claims["sub"] == claims["client_id"] == client_id
    assert claims["agency"] == agency and claims["scope"] == "subscribe"
    assert claims["nbf"] == claims["iat"] and claims["exp"] - claims["iat"] == 900
    assert abs(claims["iat"] - time.time()) < 10
    other = jwt.decode(await gateway_server.token(client_id, secret), KeySet.import_key_set(jwks))
    assert other.claims["jti"] != claims["jti"]


async def test_the_token_is_accepted_by_the_gateway(gateway_server: Gateway) -> None:
    agency = await gateway_server.create_agency()
    client_id, secret = await gateway_server.create_client(agency, ("catalog:read", "publish"))
    token = await gateway_server.token(client_id, secret, "publish")
    async with gateway_server.client() as http:
        me = await http.get("/v1/me", headers=bearer(token))
    assert me.status_code == 200
    body = me.json()
    assert body["agency"] == agency and body["client_id"] == client_id
    assert body["scopes"] == ["publish"] and body["issuer"] == gateway_server.issuer
    assert body["token_id"] and body["expires_at"] > time.time()


async def test_jwks_holds_public_keys_only_and_says_how_long_to_cache(
    gateway_server: Gateway,
) -> None:
    async with gateway_server.client() as http:
        response = await http.get("/oauth2/jwks")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=300"
    keys = response.json()["keys"]
    assert keys
    for key in keys:
        assert set(key) == {"kty", "n", "e", "kid", "alg", "use"}
        assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")


async def test_authorization_server_metadata(gateway_server: Gateway) -> None:
    base = gateway_server.issuer
    async with gateway_server.client() as http:
        response = await http.get("/.well-known/oauth-authorization-server")
        metadata = response.json()
        assert (await http.get(metadata["jwks_uri"])).status_code == 200
    assert response.status_code == 200
    methods = ["client_secret_basic", "client_secret_post"]
    assert metadata == {
        "issuer": base,
        "token_endpoint": f"{base}/oauth2/token",
        "jwks_uri": f"{base}/oauth2/jwks",
        "introspection_endpoint": f"{base}/oauth2/introspect",
        "revocation_endpoint": f"{base}/oauth2/revoke",
        "grant_types_supported": ["client_credentials"],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": methods,
        "introspection_endpoint_auth_methods_supported": methods,
        "revocation_endpoint_auth_methods_supported": methods,
        "scopes_supported": [
            "admin",
            "agreements:manage",
            "catalog:read",
            "metrics:read",
            "publish",
            "registry:write",
            "subscribe",
        ],
        "access_token_signing_alg_values_supported": ["RS256"],
    }


async def test_malformed_token_requests_are_invalid_request(gateway_server: Gateway) -> None:
    client_id, secret = await gateway_server.create_client()
    async with gateway_server.client() as http:
        as_json = await http.post(
            "/oauth2/token", json={"grant_type": "client_credentials"}, auth=(client_id, secret)
        )
        repeated = await http.post(
            "/oauth2/token",
            content="grant_type=client_credentials&scope=a&scope=b",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            auth=(client_id, secret),
        )
        too_big = await http.post(
            "/oauth2/token",
            data={"grant_type": "client_credentials", "pad": "x" * 20_000},
            auth=(client_id, secret),
        )
    for response in (as_json, repeated, too_big):
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_request"
        assert "access_token" not in response.text


async def test_plain_http_off_loopback_is_refused(tmp_path: Path, kafka_bootstrap: str) -> None:
    """OAuth2 needs TLS: an issuer published as plain HTTP on a real host name issues nothing."""
    settings = gateway_settings(tmp_path, kafka_bootstrap, issuer="http://gateway.example")
    with serve_gateway(settings) as gateway:
        client_id, secret = await gateway.create_client()
        response = await gateway.token_response(client_id, secret)
    assert response.status_code == 400
    assert response.json()["error"] == "insecure_transport"
    assert "access_token" not in response.json()
