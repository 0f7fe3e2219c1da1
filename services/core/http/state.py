"""What a service's lifespan owns and hands to its routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.core.config import ServiceSettings


@dataclass(frozen=True)
class CoreState:
    """The I/O clients every service has: opened at start, closed at shutdown."""

    service: str
    settings: ServiceSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]

    @property
    def kafka_bootstrap(self) -> str:
        # Checked at start: a service never runs without a cluster to talk to.
        assert self.settings.kafka.bootstrap is not None  # noqa: S101
        return self.settings.kafka.bootstrap


async def get_core(request: Request) -> CoreState:  # async: no thread hop per request
    core: CoreState = request.state.core
    return core


Core = Annotated[CoreState, Depends(get_core)]
