"""What the catalogue needs at run time, opened by the gateway's lifespan and closed after it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, Final

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.avro.registry_client import RegistryClient
from services.core.config import GatewaySettings, KafkaSettings
from services.core.http.state import CoreState
from services.core.kafka.offsets import OffsetReader
from services.core.ttlcache import TTLCache

ENTRY_CACHE_SECONDS: Final = 2.0


@dataclass(frozen=True)
class Catalogue:
    """The control plane, the registry and Kafka, as the dataset and catalogue logic uses them."""

    sessions: async_sessionmaker[AsyncSession]
    registry: RegistryClient
    kafka: KafkaSettings
    bootstrap: str
    offsets: OffsetReader
    # The registry's policy (NDXP_AUTH_REQUIRE_TOKENS, shared by every service): when it requires
    # tokens, the gateway's writes there carry the caller's, which must then hold registry:write.
    registry_requires_tokens: bool = True
    # A catalogue entry's contract and volume may be this many seconds old (shared by readers).
    entries: TTLCache[Any] = field(default_factory=lambda: TTLCache(ENTRY_CACHE_SECONDS))


@asynccontextmanager
async def catalogue_resources(
    core: CoreState, settings: GatewaySettings
) -> AsyncIterator[Catalogue]:
    """A registry client and an offset reader for the gateway's lifetime (neither connects until
    first used, so the gateway starts while the registry or Kafka is still coming up)."""
    registry = RegistryClient(settings.registry_url)
    offsets = OffsetReader(settings.kafka, bootstrap=core.kafka_bootstrap)
    try:
        yield Catalogue(
            core.sessions,
            registry,
            settings.kafka,
            core.kafka_bootstrap,
            offsets,
            registry_requires_tokens=settings.auth.require_tokens,
        )
    finally:
        await offsets.close()
        await registry.close()


def get_catalogue(request: Request) -> Catalogue:
    catalogue: Catalogue = request.state.catalogue
    return catalogue


CatalogueDep = Annotated[Catalogue, Depends(get_catalogue)]
