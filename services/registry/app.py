"""The schema registry service (Confluent Schema Registry API), port 8081."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp

from services.core.auth.authenticator import authentication
from services.core.auth.gate import OPEN
from services.core.config import RegistrySettings
from services.core.http.confluent_extras import ConfluentExtras
from services.core.http.negotiation import AcceptNegotiation
from services.core.http.segments import SegmentedPath
from services.core.http.service import create_service_app
from services.core.http.state import CoreState
from services.registry.auth import RegistryAuth
from services.registry.errors import confluent_json
from services.registry.fastpath import CachedSchemaById
from services.registry.metrics import count_contents
from services.registry.registry import Registry
from services.registry.routers import compatibility, config, contracts, meta, schemas, subjects
from services.registry.store import Store

ROUTER_MODULES = (subjects, schemas, config, compatibility, contracts, meta)


class Negotiation(AcceptNegotiation):
    """``Accept`` as Confluent's registry reads it (406 in its error format), on every answer."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app, confluent_json, OPEN - {"/"})  # the root is the API's too


def create_app(settings: RegistrySettings | None = None) -> FastAPI:
    settings = settings or RegistrySettings()

    @asynccontextmanager
    async def resources(core: CoreState) -> AsyncIterator[Mapping[str, Any]]:
        store = Store(core.sessions, core.engine.dialect.name)
        state: dict[str, Any] = {"registry": Registry(store, settings)}
        if not settings.auth.require_tokens:
            yield state
            return
        # Tokens are verified against the gateway's JWKS (NDXP_AUTH_JWKS_URL).
        async with authentication(core) as authenticator:
            yield {**state, "authenticator": authenticator}

    routers = [module.router for module in ROUTER_MODULES]
    return create_service_app(
        "registry",
        settings,
        routers=routers,
        render=confluent_json,
        resources=resources,
        refresh_metrics=count_contents,
        # the token check wraps the fast path; the extras flag wraps every answer, errors too;
        # all of them see the path as the routes do (a subject may hold an encoded "/")
        middleware=[CachedSchemaById, RegistryAuth, ConfluentExtras, Negotiation, SegmentedPath],
    )
