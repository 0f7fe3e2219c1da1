"""``/registry/*``: the Confluent Schema Registry API, proxied (see ``proxy.py``)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.convertors import PathConvertor, register_url_convertor

from services.core.http.json_body import JsonRoute
from services.gateway.deps import RegistryProxyDep
from services.gateway.registry_proxy.proxy import PREFIX, proxy


class _AnyPath(PathConvertor):
    """Starlette's ``path``, newlines included: a subject holding one must reach the access rule
    (which refuses it in Confluent's form), not fall through to a problem+json 404."""

    regex = "(?s:.*)"


register_url_convertor("registry_path", _AnyPath())

router = APIRouter(prefix=PREFIX, tags=["registry"], route_class=JsonRoute)
_METHODS = ["GET", "POST", "PUT", "DELETE"]


async def forward(request: Request, client: RegistryProxyDep) -> Response:
    return await proxy(request, client)


router.add_api_route("", forward, methods=_METHODS, include_in_schema=False)
router.add_api_route("/{path:registry_path}", forward, methods=_METHODS, include_in_schema=False)
