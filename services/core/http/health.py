"""``/healthz`` (the process answers), ``/readyz`` (its dependencies answer) and ``/metrics``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from services.core.auth.authenticator import Authenticator
from services.core.auth.errors import AUTHENTICATION_ERRORS, InsufficientScope
from services.core.auth.principal import METRICS_READ
from services.core.db.engine import ping
from services.core.http.json_body import JsonRoute
from services.core.http.openapi import raising
from services.core.http.state import Core, CoreState
from services.core.kafka.admin import check_kafka
from services.core.metrics import READY, exposition

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[CoreState], Awaitable[None]]
# Sets a service's gauges of what its database holds just before /metrics answers: one cheap
# query per scrape, and every replica reads the same truth.
MetricsRefresh = Callable[[CoreState], Awaitable[None]]
CHECK_TIMEOUT = 5.0
STARTUP = "startup"


class Starting(Exception):  # a check's outcome, reported in /readyz, never raised to a client
    """The service runs, but whoever started it has not finished starting the rest yet."""


async def database_ready(core: CoreState) -> None:
    await ping(core.engine)


async def kafka_ready(core: CoreState) -> None:
    await check_kafka(core.settings.kafka, bootstrap=core.kafka_bootstrap, timeout=CHECK_TIMEOUT)


NOT_READY = {
    "description": "Not ready: which of its checks failed (a readiness report, not an error)",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["status", "checks"],
                "properties": {
                    "status": {"const": "not_ready"},
                    "checks": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            }
        }
    },
}


async def startup_done(core: CoreState) -> None:
    """``NDXP_READY_AFTER``'s file exists: ``ndxp up`` has seeded the demo (or had nothing to do),
    so no client that waits for readiness meets a hub without it."""
    marker = core.settings.ready_after
    if marker is not None and not marker.exists():
        raise Starting(f"the hub is still starting ({marker} not written yet)")


@raising(*AUTHENTICATION_ERRORS, InsufficientScope)
async def metrics_reader(request: Request) -> None:
    """Who may scrape ``/metrics``: its series name datasets, NON_PUBLIC ones too, so a service
    that requires tokens (the gateway always does) wants one holding ``metrics:read`` — bearer,
    or a client's id and secret as HTTP Basic, as Prometheus's ``oauth2`` and ``basic_auth``
    scrape settings send them. The service's gate lets the path through for this check."""
    authenticator: Authenticator | None = getattr(request.state, "authenticator", None)
    if authenticator is None:  # a registry or connect run without tokens: open like the rest
        return
    principal = await authenticator.authenticate(request.headers.get("authorization"))
    principal.require_any(METRICS_READ)


DEFAULT_CHECKS: dict[str, ReadinessCheck] = {"database": database_ready, "kafka": kafka_ready}


async def readiness(core: CoreState, checks: dict[str, ReadinessCheck]) -> dict[str, str]:
    """Run every check (and ``startup``'s where ``NDXP_READY_AFTER`` is set): check -> ``ok`` or
    why not. Sets ``ndxp_ready``; /readyz asks it, and so does the service's watch."""
    active = checks if core.settings.ready_after is None else {**checks, STARTUP: startup_done}
    results = await asyncio.gather(*(_run(check, core) for check in active.values()))
    READY.labels(core.service).set(1 if all(result == "ok" for result in results) else 0)
    return dict(zip(active, results, strict=True))


async def _run(check: ReadinessCheck, core: CoreState) -> str:
    try:
        await asyncio.wait_for(check(core), CHECK_TIMEOUT + 1)
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready", reported, not raised
        return f"failed: {type(exc).__name__}: {exc}"
    return "ok"


async def _refreshed(refresh: MetricsRefresh, core: CoreState) -> None:
    """A failed refresh leaves the gauges at their last values: the scrape still answers."""
    try:
        await asyncio.wait_for(refresh(core), CHECK_TIMEOUT)
    except Exception:
        log.warning("the metrics of the database's contents were not refreshed", exc_info=True)


def health_router(
    checks: dict[str, ReadinessCheck] | None = None, refresh: MetricsRefresh | None = None
) -> APIRouter:
    checks = DEFAULT_CHECKS if checks is None else checks
    router = APIRouter(tags=["health"], route_class=JsonRoute)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", responses={503: NOT_READY})
    async def readyz(core: Core) -> JSONResponse:
        report = await readiness(core, checks)
        ready = all(result == "ok" for result in report.values())
        if any(result != "ok" for name, result in report.items() if name != STARTUP):
            log.warning("not ready: %s", report)  # startup's wait is expected: not worth a line
        body = {"status": "ready" if ready else "not_ready", "checks": report}
        return JSONResponse(body, status_code=200 if ready else 503)

    @router.get("/metrics", dependencies=[Depends(metrics_reader)])
    async def metrics(core: Core) -> Response:
        if refresh is not None:
            await _refreshed(refresh, core)
        return Response(exposition(), media_type=CONTENT_TYPE_LATEST)

    return router
