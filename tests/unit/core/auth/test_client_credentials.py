"""OAuth2 client credentials without a network: the token endpoint and the API are httpx mock
transports, the clock a number the test moves."""

from __future__ import annotations

import asyncio
import base64
import re
import uuid
from typing import Any

import httpx
import pytest

from services.core.auth.client_credentials import (
    ClientCredentials,
    ClientCredentialsAuth,
    TokenRefused,
    token_endpoint,
)

TOKEN_URL = "https://idp.example.vn/oauth2/token"


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


class TokenEndpoint:
    """Issues a new token to every request it accepts and remembers the forms it was sent."""

    def __init__(self, expires_in: Any = 300, status: int = 200, body: str | None = None) -> None:
        self.expires_in = expires_in
        self.status = status
        self.body = body
        self.forms: list[dict[str, str]] = []
        self.authorizations: list[str | None] = []
        self.timeouts: list[dict[str, Any]] = []
        self.issued: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.method == "POST"
        assert str(request.url) == TOKEN_URL
        self.forms.append(dict(httpx.QueryParams(request.content.decode())))
        self.authorizations.append(request.headers.get("authorization"))
        self.timeouts.append(request.extensions["timeout"])
        if self.body is not None:
            return httpx.Response(self.status, text=self.body)
        self.issued.append(token := f"token-{uuid.uuid4().hex[:8]}")
        body: dict[str, Any] = {"access_token": token, "token_type": "Bearer"}
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        return httpx.Response(self.status, json=body)


def credentials(
    endpoint: TokenEndpoint, clock: Clock, http_timeout: float = 10.0, **options: Any
) -> tuple[ClientCredentials, httpx.AsyncClient]:
    http = httpx.AsyncClient(transport=httpx.MockTransport(endpoint), timeout=http_timeout)
    client = ClientCredentials(
        http, TOKEN_URL, "connect/1", "s:ecret", "registry:read", clock=clock, **options
    )
    return client, http


async def test_a_token_is_kept_until_shortly_before_it_expires() -> None:
    endpoint, clock = TokenEndpoint(expires_in=300), Clock()
    client, http = credentials(endpoint, clock)
    async with http:
        first = await client.token()
        assert await client.token() == first
        clock.now += 269  # 300 s less the 30 s margin is 270 s
        assert await client.token() == first
        clock.now += 1
        second = await client.token()
    assert endpoint.issued == [first, second]
    assert endpoint.forms == [{"grant_type": "client_credentials", "scope": "registry:read"}] * 2
    # RFC 6749 §2.3.1: id and secret form-encoded, then HTTP Basic
    basic = base64.b64encode(b"connect%2F1:s%3Aecret").decode()
    assert endpoint.authorizations == [f"Basic {basic}"] * 2
    assert endpoint.timeouts[0]["read"] == 10.0  # the client's own timeout, given explicitly


@pytest.mark.parametrize(
    ("expires_in", "kept"),
    [
        (20, 18.0),  # a short lifetime loses a tenth, not the whole margin
        ("3600", 3570.0),  # a number as text, as some servers send it
        (None, 270.0),  # not said (RFC 6749 §5.1 makes it optional): five minutes
        (0, 270.0),
        ("soon", 270.0),
    ],
)
async def test_the_lifetime_comes_from_expires_in(expires_in: Any, kept: float) -> None:
    endpoint, clock = TokenEndpoint(expires_in=expires_in), Clock()
    client, http = credentials(endpoint, clock)
    async with http:
        first = await client.token()
        clock.now += kept - 0.001
        assert await client.token() == first
        clock.now += 0.001
        assert await client.token() != first
    assert len(endpoint.issued) == 2


async def test_concurrent_callers_share_one_token_request() -> None:
    endpoint, clock = TokenEndpoint(), Clock()
    client, http = credentials(endpoint, clock)
    async with http:
        tokens = await asyncio.gather(*(client.token() for _ in range(5)))
    assert set(tokens) == set(endpoint.issued)
    assert len(endpoint.issued) == 1


async def test_renew_forgets_the_token_so_the_next_caller_gets_a_new_one() -> None:
    endpoint, clock = TokenEndpoint(expires_in=3600), Clock()
    client, http = credentials(endpoint, clock)
    async with http:
        first = await client.token()
        client.renew()  # the registry answered 401: revoked, or its keys rotated
        second = await client.token()
        assert await client.token() == second
    assert endpoint.issued == [first, second]
    assert first != second


async def test_client_secret_post_sends_the_client_in_the_form() -> None:
    endpoint, clock = TokenEndpoint(), Clock()
    client, http = credentials(endpoint, clock, client_auth="post")
    async with http:
        await client.token()
    assert endpoint.forms == [
        {
            "grant_type": "client_credentials",
            "scope": "registry:read",
            "client_id": "connect/1",
            "client_secret": "s:ecret",
        }
    ]
    assert endpoint.authorizations == [None]


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (
            401,
            '{"error": "invalid_client",\n  "error_description": "unknown client"}',
            'answered 401: {"error": "invalid_client", "error_description": "unknown client"}',
        ),
        (503, "x" * 500, "answered 503: " + "x" * 200 + "…"),
        (200, '{"token_type": "Bearer"}', 'gave no access_token: {"token_type": "Bearer"}'),
        (200, "<html>sign in</html>", "gave no access_token: <html>sign in</html>"),
        (200, '{"access_token": 42}', "gave an access_token that is not a string"),
    ],
)
async def test_a_refusal_says_where_who_and_what_the_endpoint_answered(
    status: int, body: str, message: str
) -> None:
    endpoint, clock = TokenEndpoint(status=status, body=body), Clock()
    client, http = credentials(endpoint, clock)
    async with http:
        with pytest.raises(TokenRefused) as refused:
            await client.token()
        with pytest.raises(TokenRefused):  # nothing was kept: asked again
            await client.token()
    text = str(refused.value)
    assert text.startswith(f"the token endpoint {TOKEN_URL} {message}")
    assert text.endswith("(client 'connect/1')")
    assert "s:ecret" not in text
    assert refused.value.status == 503  # the hub's error: a dependency is unavailable
    assert refused.value.answered == (status if status != 200 else None)
    assert len(endpoint.forms) == 2


async def test_the_auth_flow_fetches_a_new_token_once_when_the_api_answers_401() -> None:
    endpoint, clock = TokenEndpoint(), Clock()
    revoked: set[str] = set()
    seen: list[str] = []
    refusing = False

    def transport(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth2/token":
            return endpoint(request)
        token = request.headers["authorization"].removeprefix("Bearer ")
        seen.append(token)
        return httpx.Response(401 if refusing or token in revoked else 200, json=[])

    auth = ClientCredentialsAuth(
        TOKEN_URL, "rest/1", "secret", client_auth="post", timeout=3, clock=clock
    )
    async with httpx.AsyncClient(auth=auth, transport=httpx.MockTransport(transport)) as http:
        assert (await http.get("https://api.example.vn/people")).status_code == 200
        revoked.add(endpoint.issued[0])
        assert (await http.get("https://api.example.vn/people")).status_code == 200
        refusing = True  # the new token is refused too: the caller sees the 401
        assert (await http.get("https://api.example.vn/people")).status_code == 401
    first, second, third = endpoint.issued
    assert seen == [first, first, second, second, third]
    assert all(timeout["read"] == 3 for timeout in endpoint.timeouts)


async def test_the_token_url_s_query_is_not_shown() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": "invalid_scope"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as http:
        client = ClientCredentials(http, f"{TOKEN_URL}?api_key=k3y", "c", "s")
        with pytest.raises(TokenRefused, match=re.escape(f"{TOKEN_URL} answered 400")) as refused:
            await client.token()
    assert "k3y" not in str(refused.value)


@pytest.mark.parametrize(
    ("issuer", "endpoint"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/oauth2/token"),
        ("https://hub.gov.vn/", "https://hub.gov.vn/oauth2/token"),
        ("https://hub.gov.vn/api", "https://hub.gov.vn/api/oauth2/token"),
    ],
)
def test_the_gateway_s_token_endpoint_is_below_its_issuer(issuer: str, endpoint: str) -> None:
    assert token_endpoint(issuer) == endpoint
