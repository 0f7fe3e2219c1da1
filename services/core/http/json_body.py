"""Request bodies FastAPI parses are read as ndxp reads every JSON body: within the limits of
:mod:`services.core.bounded_json` (depth, 64-bit integers, finite numbers), so hostile JSON is a
400 that says what is wrong, never a 500 later.

Every router of a service is an ``APIRouter(..., route_class=JsonRoute)``; building the app
refuses a route that is not (:func:`check_routes`), so no body slips past the limits.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute

from services.core import bounded_json


def max_json_depth(request: Request) -> int:
    """The service's ``NDXP_MAX_JSON_DEPTH`` (the default before its lifespan has run)."""
    core = request.scope.get("state", {}).get("core")
    return core.settings.max_json_depth if core is not None else bounded_json.DEFAULT_MAX_DEPTH


class JsonRequest(Request):
    """A request whose ``json()`` keeps ndxp's limits."""

    _json: Any

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = bounded_json.loads(await self.body(), max_depth=max_json_depth(self))
        return self._json


class JsonRoute(APIRoute):
    """A route whose JSON body is parsed by :class:`JsonRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            return await handler(JsonRequest(request.scope, request.receive))

        return handle


def check_routes(routers: Iterable[APIRouter]) -> None:
    """Refuse (``TypeError``) a route that would parse JSON bodies without the limits."""
    for router in routers:
        for route in router.routes:
            if isinstance(route, APIRoute) and not isinstance(route, JsonRoute):
                raise TypeError(f"{route.path}: declare its router with route_class=JsonRoute")
