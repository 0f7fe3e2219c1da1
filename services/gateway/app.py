"""The gateway: the hub's one public entry point, port 8080."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from services.core.config import GatewaySettings
from services.core.http.service import create_service_app
from services.core.http.state import CoreState
from services.gateway.agreements import router as agreements
from services.gateway.audit import router as audit
from services.gateway.catalog import datasets_router as datasets
from services.gateway.catalog import router as catalog
from services.gateway.identity import agencies_router as agencies
from services.gateway.identity import clients_router as clients
from services.gateway.identity import me_router as me
from services.gateway.oauth import router as oauth
from services.gateway.oauth import well_known
from services.gateway.oauth.metrics import measure_keys
from services.gateway.publish import router as publish
from services.gateway.registry_proxy import router as registry
from services.gateway.state import gateway_state
from services.gateway.subscriptions import router as subscriptions


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()

    @asynccontextmanager
    async def resources(core: CoreState) -> AsyncIterator[Mapping[str, Any]]:
        async with gateway_state(core, settings) as state:
            yield state.request_state()

    routers = [module.router for module in (well_known, oauth, me)]
    routers += [module.router for module in (agencies, clients, datasets, catalog, registry)]
    routers += [audit.router, agreements.router, publish.router, subscriptions.router]
    return create_service_app(
        "gateway", settings, routers=routers, resources=resources, refresh_metrics=measure_keys
    )
