"""Assembling a service: one factory builds every ndxp FastAPI app the same way."""

from __future__ import annotations

import gc
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp

from services import __version__
from services.core.config import ServiceSettings, masked
from services.core.db.engine import create_engine, session_factory
from services.core.db.migrate import migrate
from services.core.errors import NdxpError
from services.core.http.docs import docs_router
from services.core.http.errors import ErrorRenderer, problem_json, setup_exception_handlers
from services.core.http.health import (
    DEFAULT_CHECKS,
    MetricsRefresh,
    ReadinessCheck,
    health_router,
)
from services.core.http.json_body import check_routes
from services.core.http.middleware import RequestContextMiddleware
from services.core.http.openapi import document_errors
from services.core.http.state import CoreState
from services.core.http.watch import watching
from services.core.logging import configure_logging
from services.core.metrics import mark_started, retire_process
from services.core.tracing import configure_tracing, flush, instrument

log = logging.getLogger(__name__)

Resources = Callable[[CoreState], AbstractAsyncContextManager[Mapping[str, Any]]]
# Request handling allocates containers in bulk (a 500-record publish: ~3,000), so with Python's
# default thresholds (700, 10, 10) the collector ran thousands of times a minute and full
# collections of the whole heap every few seconds: ~15 % of a busy gateway's CPU. Young
# collections stay cheap at this size; full ones become rare.
GC_THRESHOLDS = (20_000, 20, 20)


class ConfigurationError(NdxpError):
    code = "configuration_error"


@asynccontextmanager
async def core_resources(service: str, settings: ServiceSettings) -> AsyncIterator[CoreState]:
    """Open what every service needs (database, migrations), close it on the way out."""
    configure_logging(settings.log)
    log.info("%s %s starting: %s", service, __version__, json.dumps(masked(settings)))
    if not settings.kafka.bootstrap:
        raise ConfigurationError(
            "NDXP_KAFKA_BOOTSTRAP is not set: point it at a cluster, or run `ndxp up`"
        )
    engine = create_engine(
        settings.database_url, pool_size=settings.database.pool_size, echo=settings.database.echo
    )
    try:
        if settings.migrate_on_start:
            revision = await migrate(engine)
            log.info("database at revision %s", revision)
        yield CoreState(service, settings, engine, session_factory(engine))
    finally:
        await engine.dispose()


def create_service_app(
    service: str,
    settings: ServiceSettings,
    *,
    routers: Iterable[APIRouter] = (),
    render: ErrorRenderer = problem_json,
    resources: Resources | None = None,
    checks: dict[str, ReadinessCheck] | None = None,
    middleware: Sequence[Callable[[ASGIApp], ASGIApp]] = (),
    refresh_metrics: MetricsRefresh | None = None,
) -> FastAPI:
    """A FastAPI app with ndxp's lifespan, error handling, middleware, health and metrics
    (``refresh_metrics`` runs before each ``/metrics`` answer), and traces when they are on
    (:mod:`services.core.tracing`)."""
    configure_tracing(service, settings.tracing)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Any]]:
        gc.set_threshold(*GC_THRESHOLDS)
        try:
            async with (
                core_resources(service, settings) as core,
                watching(core, DEFAULT_CHECKS if checks is None else checks),
            ):
                if resources is None:
                    mark_started(service)
                    yield {"core": core}
                    return
                async with resources(core) as extra:
                    mark_started(service)
                    yield {"core": core, **extra}
        finally:
            flush()
            retire_process()

    title = f"ndxp {service}"
    # /docs is ndxp's own, serving Swagger UI from the service (no CDN); no ReDoc page
    app = FastAPI(
        title=title, version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None
    )
    routers = [docs_router(title), health_router(checks, refresh_metrics), *routers]
    check_routes(routers)
    for router in routers:
        app.include_router(router)
    setup_exception_handlers(app, render)
    document_errors(app, render, middleware)
    for extra in middleware:  # innermost first; the request context wraps them all
        app.add_middleware(extra)
    app.add_middleware(RequestContextMiddleware, service=service, render=render)
    instrument(app)
    return app
