"""Clients of the test registries: Confluent's media type on every request, closed after use."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.integration.registry.helpers import V1


def _client(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Content-Type": V1, "Accept": V1}, timeout=60)


@pytest.fixture
def client(registry_url: str) -> Iterator[httpx.Client]:
    """The session's shared registry: only subject-level config and mode may be changed."""
    with _client(registry_url) as c:
        yield c


@pytest.fixture
def fresh_client(fresh_registry_url: str) -> Iterator[httpx.Client]:
    """A registry of this test's own, for global config and mode."""
    with _client(fresh_registry_url) as c:
        yield c
