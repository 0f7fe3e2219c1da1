"""Clients of the test registries: Confluent's media type on every request, closed after use."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.fixtures.registry import registry_client


@pytest.fixture
def client(registry_url: str) -> Iterator[httpx.Client]:
    """The session's shared registry: only subject-level config and mode may be changed."""
    with registry_client(registry_url) as c:
        yield c


@pytest.fixture
def fresh_client(fresh_registry_url: str) -> Iterator[httpx.Client]:
    """A registry of this test's own, for global config and mode."""
    with registry_client(fresh_registry_url) as c:
        yield c
