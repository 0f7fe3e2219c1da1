"""``/registry/*``: the Confluent Schema Registry API, proxied (see ``registry_proxy.py``)."""

from __future__ import annotations

from fastapi import APIRouter

from services.core.http.json_body import JsonRoute
from services.gateway.registry_proxy import PREFIX, proxy

router = APIRouter(prefix=PREFIX, tags=["registry"], route_class=JsonRoute)
_METHODS = ["GET", "POST", "PUT", "DELETE"]
router.add_api_route("", proxy, methods=_METHODS, include_in_schema=False)
router.add_api_route("/{path:path}", proxy, methods=_METHODS, include_in_schema=False)
