"""Clients of the test registries: Confluent's media type on every request, closed after use.

``client`` and ``fresh_client`` call the registry as ndxp's own clients do, asking for ndxp's
extra fields (``ndxpExtras=true``: a registration's version and lint warnings, ``lint`` in
``/config``, the ``errors`` of a refusal); ``plain_client`` and ``plain_fresh_client`` call it as
any Confluent client does, and see Confluent's fields only.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.fixtures.registry import registry_client


@pytest.fixture
def client(registry_url: str) -> Iterator[httpx.Client]:
    """The session's shared registry: only subject-level config and mode may be changed."""
    with registry_client(registry_url, extras=True) as c:
        yield c


@pytest.fixture
def fresh_client(fresh_registry_url: str) -> Iterator[httpx.Client]:
    """A registry of this test's own, for global config and mode."""
    with registry_client(fresh_registry_url, extras=True) as c:
        yield c


@pytest.fixture
def plain_client(registry_url: str) -> Iterator[httpx.Client]:
    """The shared registry as a Confluent client sees it: no ndxp extras asked for."""
    with registry_client(registry_url) as c:
        yield c


@pytest.fixture
def plain_fresh_client(fresh_registry_url: str) -> Iterator[httpx.Client]:
    """A registry of this test's own, seen without ndxp's extras."""
    with registry_client(fresh_registry_url) as c:
        yield c
