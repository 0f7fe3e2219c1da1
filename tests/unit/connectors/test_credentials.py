"""Connect's credentials at the registry, without a network: the token endpoint is an httpx mock
transport, the registry a function that refuses or answers."""

from __future__ import annotations

import httpx
import pytest

from services.connectors.credentials import RegistryAuth
from services.core.auth.client_credentials import ClientCredentials, TokenRefused
from services.core.avro.registry_client import RegistryUnauthorized
from tests.unit.core.auth.test_client_credentials import (
    TOKEN_URL,
    Clock,
    TokenEndpoint,
    credentials,
)


class Registry:
    """Answers "schema" to requests with a token it accepts; 401 otherwise."""

    def __init__(self, accepted: set[str] | None = None) -> None:
        self.accepted = accepted
        self.seen: list[str | None] = []

    async def __call__(self, authorization: str | None) -> str:
        self.seen.append(authorization)
        if authorization is None or (
            self.accepted is not None and authorization.removeprefix("Bearer ") not in self.accepted
        ):
            raise RegistryUnauthorized("the schema registry answered 401")
        return "schema"


async def test_registry_auth_is_a_bearer_header_or_nothing() -> None:
    endpoint, clock = TokenEndpoint(), Clock()
    client, http = credentials(endpoint, clock)
    async with http:
        assert await RegistryAuth().header() is None
        assert await RegistryAuth(client, sending=False).header() is None
        header = await RegistryAuth(client).header()
    assert header == f"Bearer {endpoint.issued[0]}"


async def test_a_registry_refusal_renews_the_token_and_tries_once_more() -> None:
    endpoint, clock = TokenEndpoint(), Clock()
    client, http = credentials(endpoint, clock)
    seen: list[str | None] = []

    async def read(authorization: str | None) -> str:
        seen.append(authorization)
        if len(seen) == 1:  # the first token was revoked
            raise RegistryUnauthorized("the schema registry answered 401: revoked")
        return "schema"

    async with http:
        assert await RegistryAuth(client).call(read) == "schema"
        with pytest.raises(RegistryUnauthorized):
            await RegistryAuth().call(Registry())
    assert seen == [f"Bearer {endpoint.issued[0]}", f"Bearer {endpoint.issued[1]}"]


async def test_an_identity_is_sent_once_the_registry_asks_for_one() -> None:
    endpoint, clock = TokenEndpoint(), Clock()
    client, http = credentials(endpoint, clock)
    registry = Registry()
    auth = RegistryAuth(client, sending=False)
    async with http:
        assert await auth.call(registry) == "schema"
        assert await auth.call(registry) == "schema"
    token = f"Bearer {endpoint.issued[0]}"
    assert registry.seen == [None, token, token]  # asked once, then sent every time
    assert len(endpoint.issued) == 1


async def test_an_open_registry_never_needs_the_token_endpoint() -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async def open_registry(authorization: str | None) -> str:
        assert authorization is None
        return "schema"

    async with httpx.AsyncClient(transport=httpx.MockTransport(unreachable)) as http:
        auth = RegistryAuth(ClientCredentials(http, TOKEN_URL, "c", "s"), sending=False)
        assert await auth.call(open_registry) == "schema"


async def test_a_token_endpoint_not_listening_yet_is_waited_for() -> None:
    endpoint = TokenEndpoint()
    tries: list[str] = []

    def starting(request: httpx.Request) -> httpx.Response:
        tries.append(str(request.url))
        if len(tries) <= 2:  # the gateway is still starting
            raise httpx.ConnectError("connection refused", request=request)
        if len(tries) == 3:  # listening, not ready
            return httpx.Response(503, json={"detail": "starting"})
        return endpoint(request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(starting)) as http:
        client = ClientCredentials(http, TOKEN_URL, "c", "s")
        auth = RegistryAuth(client, first_wait=0.01)
        registry = Registry()
        assert await auth.call(registry) == "schema"
    assert len(tries) == 4
    assert registry.seen == [f"Bearer {endpoint.issued[0]}"]


async def test_the_wait_ends_and_a_refused_client_is_not_waited_for() -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(unreachable)) as http:
        auth = RegistryAuth(
            ClientCredentials(http, f"{TOKEN_URL}?k=v", "c", "s"), patience=0.05, first_wait=0.01
        )
        with pytest.raises(TokenRefused, match=f"{TOKEN_URL} did not answer for") as gave_up:
            await auth.call(Registry())
    assert "k=v" not in str(gave_up.value)

    endpoint, clock = TokenEndpoint(status=401, body='{"error": "invalid_client"}'), Clock()
    client, http = credentials(endpoint, clock)
    async with http:
        with pytest.raises(TokenRefused, match="answered 401"):
            await RegistryAuth(client, patience=60).call(Registry())
    assert len(endpoint.forms) == 1  # a wrong secret does not get better by waiting
