"""The gateway: the hub's one public entry point, port 8080."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI

from services.core.audit import audit_log
from services.core.config import GatewaySettings
from services.core.http.service import create_service_app
from services.core.http.state import CoreState
from services.gateway.oauth.resources import oauth_resources
from services.gateway.registry_proxy import proxy_client
from services.gateway.resources import catalogue_resources
from services.gateway.routers import (
    agencies,
    audit,
    catalog,
    clients,
    datasets,
    me,
    oauth,
    registry,
    well_known,
)


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()

    @asynccontextmanager
    async def resources(core: CoreState) -> AsyncIterator[Mapping[str, Any]]:
        async with AsyncExitStack() as stack:
            state: dict[str, Any] = {}
            # the audit trail every act of sharing (and every token) is recorded in
            state["audit"] = trail = await stack.enter_async_context(audit_log(core))
            # keys, authenticator (what every protected route uses) and the OAuth2 endpoints
            state.update(await stack.enter_async_context(oauth_resources(core, trail)))
            # the registry client and Kafka offsets the catalogue and dataset routes use
            state["catalogue"] = await stack.enter_async_context(
                catalogue_resources(core, settings)
            )
            # the streaming client of the /registry proxy
            state["registry_proxy"] = await stack.enter_async_context(
                proxy_client(settings.registry_url)
            )
            yield state

    routers = [module.router for module in (well_known, oauth, me)]
    routers += [module.router for module in (agencies, clients, datasets, catalog, registry)]
    routers += [audit.router]
    return create_service_app("gateway", settings, routers=routers, resources=resources)
