"""Two gateway replicas on one control plane (SQLite file, then PostgreSQL): a revocation or a
disabled client made on, or behind, one of them is honoured by both at once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.gateway import Gateway, bearer, gateway_settings, new_kek, serve_gateway


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


async def test_a_revocation_on_one_replica_is_honoured_by_the_other_at_once(
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
    assert revoked.status_code == 200

    assert [await status(b, from_b), await status(a, from_b)] == [401, 401]
    async with httpx.AsyncClient(base_url=b.url) as http:
        introspected = await http.post(
            "/oauth2/introspect", data={"token": from_b}, auth=(client_id, secret)
        )
    assert introspected.json() == {"active": False}
    assert [await status(a, from_a), await status(b, from_a)] == [200, 200]


async def test_a_client_disabled_in_the_database_stops_working_on_both_at_once(
    replicas: list[Gateway],
) -> None:
    a, b = replicas
    client_id, secret = await a.create_client()
    token = await b.token(client_id, secret)
    assert [await status(a, token), await status(b, token)] == [200, 200]

    await a.set_client_enabled(client_id, False)  # straight in the control plane
    assert [await status(a, token), await status(b, token)] == [401, 401]
    for replica in replicas:
        refused = await replica.token_response(client_id, secret)
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"

    await a.set_client_enabled(client_id, True)
    assert [await status(a, token), await status(b, token)] == [200, 200]
