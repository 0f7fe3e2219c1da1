"""The data paths' view of a contract with nested references, read from the real registry: the
contract cache compiles it (each referenced version fetched once) and encodes and decodes its
records, and the PII classes of a type two references away are seen."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.core.avro.codec import decode, encode
from services.core.avro.contract_cache import ContractCache, referenced_schemas
from services.core.avro.names import named_types
from services.core.avro.pii import pii_fields
from services.core.avro.registry_client import RegistryClient
from tests.integration.registry.helpers import diamond


class Counting(httpx.AsyncHTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.paths: Counter[str] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths[request.url.path] += 1
        return await super().handle_async_request(request)


@pytest.fixture
async def counted(registry_url: str) -> AsyncIterator[tuple[RegistryClient, Counting]]:
    transport = Counting()
    client = RegistryClient(registry_url, transport=transport)
    yield client, transport
    await client.close()


async def test_the_contract_cache_compiles_a_diamond_fetching_each_version_once(
    client: httpx.Client, subject: str, counted: tuple[RegistryClient, Counting]
) -> None:
    money_subject = diamond(client, subject)
    registry, transport = counted
    value: dict[str, Any] = {
        "price": {"value": {"amount": 12, "owner": "Lan"}},
        "cost": {"value": {"amount": 7, "owner": "Minh"}},
    }

    contract = await ContractCache(registry).version(subject, None, None)

    assert decode(encode(contract, value), contract) == value
    assert transport.paths[f"/subjects/{money_subject}/versions/1"] == 1


async def test_pii_two_references_away_is_seen(
    client: httpx.Client, subject: str, counted: tuple[RegistryClient, Counting]
) -> None:
    diamond(client, subject)
    registry, _ = counted
    latest = await registry.version(subject, "latest", None)

    named: dict[str, Any] = {}
    for raw in await referenced_schemas(registry, latest, None):
        named.update(named_types(raw))

    assert pii_fields(json.loads(latest["schema"]), named) == {
        "price.value.owner": "basic",
        "cost.value.owner": "basic",
    }
