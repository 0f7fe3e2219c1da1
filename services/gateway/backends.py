"""The gateway's clients of the hub's backends, opened by its lifespan and closed after it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.avro.registry_client import RegistryClient
from services.core.config import GatewaySettings, KafkaSettings
from services.core.http.state import CoreState
from services.core.kafka.offsets import OffsetReader
from services.core.ttlcache import TTLCache

ENTRY_CACHE_SECONDS: Final = 2.0
# A catalogue entry counts at most this many more of a partition's offsets, within this long, per
# look (a large topic's volume is an upper bound until counted): a request is never held long.
VOLUME_BUDGET: Final = 2_000
VOLUME_READ_SECONDS: Final = 0.5


@dataclass(frozen=True)
class Backends:
    """The bag of clients every room of the gateway uses: the control plane's sessions, the
    registry client, and Kafka (its settings, bootstrap and a shared offset reader)."""

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
async def open_backends(core: CoreState, settings: GatewaySettings) -> AsyncIterator[Backends]:
    """A registry client and an offset reader for the gateway's lifetime (neither connects until
    first used, so the gateway starts while the registry or Kafka is still coming up)."""
    registry = RegistryClient(settings.registry_url)
    offsets = OffsetReader(
        settings.kafka,
        bootstrap=core.kafka_bootstrap,
        budget=VOLUME_BUDGET,
        read_seconds=VOLUME_READ_SECONDS,
    )
    try:
        yield Backends(
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
