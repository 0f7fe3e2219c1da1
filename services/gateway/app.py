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
from services.gateway.agreements import router as agreements
from services.gateway.agreements.expiry import agreement_sweeper
from services.gateway.audit import router as audit
from services.gateway.backends import catalogue_resources
from services.gateway.catalog import datasets_router as datasets
from services.gateway.catalog import router as catalog
from services.gateway.identity import agencies_router as agencies
from services.gateway.identity import clients_router as clients
from services.gateway.identity import me_router as me
from services.gateway.oauth import router as oauth
from services.gateway.oauth import well_known
from services.gateway.oauth.resources import oauth_resources
from services.gateway.publish import publish_resources
from services.gateway.registry_proxy import router as registry
from services.gateway.registry_proxy.proxy import proxy_client
from services.gateway.routers import publish, subscriptions
from services.gateway.subscribe import subscribe_resources


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
            # agreements past their end date written down as expired, every few seconds
            state["agreement_sweeper"] = await stack.enter_async_context(
                agreement_sweeper(state["catalogue"], trail)
            )
            # the transactional producers and contract caches of the publish path
            state["publish"] = await stack.enter_async_context(
                publish_resources(core, settings, state["catalogue"])
            )
            # pooled subscription consumers and the contracts delivered records name
            state["subscribe"] = await stack.enter_async_context(
                subscribe_resources(core, settings, state["catalogue"])
            )
            # the streaming client of the /registry proxy
            state["registry_proxy"] = await stack.enter_async_context(
                proxy_client(settings.registry_url)
            )
            yield state

    routers = [module.router for module in (well_known, oauth, me)]
    routers += [module.router for module in (agencies, clients, datasets, catalog, registry)]
    routers += [audit.router, agreements.router, publish.router, subscriptions.router]
    return create_service_app("gateway", settings, routers=routers, resources=resources)
