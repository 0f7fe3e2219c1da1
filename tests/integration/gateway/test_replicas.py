"""Two gateway replicas on one control plane (SQLite file, then PostgreSQL): a revocation, a
disabled client or agency, or a rotated secret, made on or behind one of them, is honoured by the
replica it was made on at once and by the other within a second (each replica answers from its
in-memory view of identities, reloaded when the control plane's change counter moves)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.gateway import Gateway, bearer, gateway_settings, new_kek, serve_gateway

WITHIN = 1.0  # seconds: the bound docs/operations.md promises


@pytest.fixture
def replicas(tmp_path: Path, kafka_bootstrap: str, database_url: str) -> Iterator[list[Gateway]]:
    kek = new_kek()  # every replica must have the same key-encryption key
    first = gateway_settings(tmp_path / "a", kafka_bootstrap, database_url=database_url,
                             key_encryption_key=kek)  # fmt: skip
    second = gateway_settings(tmp_path / "b", kafka_bootstrap, database_url=database_url,
                              key_encryption_key=kek, issuer=first.auth.issuer)  # fmt: skip
    with serve_gateway(first) as a, serve_gateway(second) as b:
        yield [a, b]


async def status(gateway: Gateway, token: str) -> int:
    async with gateway.client() as http:
        return (await http.get("/v1/me", headers=bearer(token))).status_code


async def basic_status(gateway: Gateway, client_id: str, secret: str) -> int:
    async with gateway.client() as http:
        return (await http.get("/v1/me", auth=(client_id, secret))).status_code


async def by_then(expected: int, check: Callable[[], Awaitable[int]], since: float) -> None:
    """``check`` answers ``expected`` to a request sent ``WITHIN`` seconds after ``since`` (the
    change): the bound each replica keeps however loaded the machine is (timing the first
    refusal of a polling loop would count the loop's own slow requests)."""
    await asyncio.sleep(max(0.0, since + WITHIN - time.monotonic()))
    answered = await check()
    assert answered == expected, f"{answered}, not {expected}, {WITHIN:g} s after the change"


async def test_a_revocation_on_one_replica_is_honoured_by_the_other_within_a_second(
    replicas: list[Gateway],
) -> None:
    a, b = replicas
    client_id, secret = await a.create_client()
    from_a, from_b = await a.token(client_id, secret), await b.token(client_id, secret)
    for token in (from_a, from_b):  # one issuer, shared keys: either replica's token works on both
        assert [await status(a, token), await status(b, token)] == [200, 200]

    async with httpx.AsyncClient(base_url=a.url) as http:
        revoked = await http.post(
            "/oauth2/revoke", data={"token": from_b}, auth=(client_id, secret)
        )
        since = time.monotonic()
    assert revoked.status_code == 200

    assert await status(a, from_b) == 401  # at once where it was revoked
    await by_then(401, lambda: status(b, from_b), since)
    async with httpx.AsyncClient(base_url=b.url) as http:
        introspected = await http.post(
            "/oauth2/introspect", data={"token": from_b}, auth=(client_id, secret)
        )
    assert introspected.json() == {"active": False}
    assert [await status(a, from_a), await status(b, from_a)] == [200, 200]


async def test_a_client_disabled_in_the_database_stops_working_on_both_within_a_second(
    replicas: list[Gateway],
) -> None:
    a, b = replicas
    client_id, secret = await a.create_client()
    token = await b.token(client_id, secret)
    assert [await status(a, token), await status(b, token)] == [200, 200]
    assert [await basic_status(r, client_id, secret) for r in replicas] == [200, 200]

    await a.set_client_enabled(client_id, False)  # straight in the control plane, by SQL
    since = time.monotonic()
    for replica in replicas:
        await by_then(401, lambda r=replica: status(r, token), since)
        await by_then(401, lambda r=replica: basic_status(r, client_id, secret), since)
        refused = await replica.token_response(client_id, secret)
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"

    await a.set_client_enabled(client_id, True)
    since = time.monotonic()
    for replica in replicas:
        await by_then(200, lambda r=replica: status(r, token), since)


async def test_an_agency_disabled_through_one_replica_is_refused_by_both_within_a_second(
    replicas: list[Gateway],
) -> None:
    a, b = replicas
    admin_id, admin_secret = await a.create_client(scopes=("admin",))
    agency = await a.create_agency()
    client_id, secret = await a.create_client(agency)
    token = await a.token(client_id, secret)
    assert [await status(a, token), await status(b, token)] == [200, 200]

    async with a.client(auth=(admin_id, admin_secret)) as http:
        disabled = await http.post(f"/v1/admin/agencies/{agency}/disable")
        since = time.monotonic()
    assert disabled.status_code == 200, disabled.text

    assert await status(a, token) == 401  # at once where it was disabled
    assert await basic_status(a, client_id, secret) == 401
    await by_then(401, lambda: status(b, token), since)
    assert await basic_status(b, client_id, secret) == 401


async def test_a_rotated_secret_is_refused_at_once_here_and_within_a_second_elsewhere(
    replicas: list[Gateway],
) -> None:
    """HTTP Basic (what Confluent clients send) is answered from a cache of verified secrets: the
    rotation must drop it on both replicas."""
    a, b = replicas
    admin_id, admin_secret = await a.create_client(scopes=("admin",))
    client_id, old = await a.create_client()
    for _ in range(2):  # the second call is answered from the cache
        assert [await basic_status(r, client_id, old) for r in replicas] == [200, 200]

    async with a.client(auth=(admin_id, admin_secret)) as http:
        rotated = await http.post(f"/v1/admin/clients/{client_id}/rotate-secret")
        since = time.monotonic()
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["client_secret"]

    assert await basic_status(a, client_id, old) == 401
    await by_then(401, lambda: basic_status(b, client_id, old), since)
    assert [await basic_status(r, client_id, new) for r in replicas] == [200, 200]
