"""``/registry/*``: the Confluent Schema Registry API behind the gateway's door.

Agencies point unmodified Confluent clients at ``https://<gateway>/registry`` with a bearer token
or ``basic.auth.user.info = client_id:client_secret``. The gateway authenticates the caller,
applies the registry access rule (:mod:`services.core.auth.registry_access`: reads for any valid
principal, writes with ``registry:write`` and ownership of the subject's dataset), then streams
the request to the registry and its answer back. The registry checks the same credentials again,
so nothing reaches it that it would not accept directly. Errors are in Confluent's format because
the callers are Confluent clients.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

import httpx
from fastapi import Request, Response
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask
from starlette.types import Scope

from services.core.auth.deps import authenticate
from services.core.auth.registry_access import authorize
from services.core.errors import NdxpError, NotFound, Unavailable
from services.core.http.errors import SCHEMA_REGISTRY_MEDIA_TYPE as MEDIA_TYPE
from services.core.http.errors import confluent_json, error_info
from services.core.http.negotiation import negotiate
from services.core.http.segments import encoded_path, scope_routing_path
from services.core.logging import request_id
from services.core.tracing import propagated

PREFIX: Final = "/registry"
TIMEOUT: Final = httpx.Timeout(30.0, connect=3.0)
_FORWARDED_REQUEST_HEADERS: Final = ("authorization", "content-type", "accept")
_FORWARDED_RESPONSE_HEADERS: Final = ("content-type", "content-length", "location")


class RegistryUnreachable(Unavailable):
    code, error_code = "registry_unreachable", 50003


class RegistryTimeout(Unavailable):
    code, error_code = "registry_timeout", 50002


@asynccontextmanager
async def proxy_client(registry_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=registry_url, timeout=TIMEOUT) as client:
        yield client


async def proxy(request: Request, client: httpx.AsyncClient) -> Response:
    """Authenticate, authorize and forward one request through ``client``; answer in Confluent's
    error format."""
    try:
        principal = await authenticate(request)
        # Judged in the form the registry routes on (each segment decoded on its own: a subject
        # may hold an encoded "/"), and forwarded encoded from exactly what was judged (dot
        # segments included, which an HTTP client would resolve away), so the rule and the
        # registry never read two paths.
        path = registry_path(request.scope)
        authorize(principal, request.method, path)
        return await _forward(request, client, encoded_path(path))
    except NdxpError as exc:
        refusal = confluent_json(error_info(exc))
        # in the media type the caller accepts, as the registry would answer (406 is its call)
        refusal.headers["content-type"] = negotiate(request.headers.get("accept")) or MEDIA_TYPE
        return refusal


def registry_path(scope: Scope) -> str:
    """The routing form of the registry path a request names below ``/registry``; 404 when the
    prefix itself is spelled with an encoded slash (``/registry%2Fsubjects``)."""
    routed = scope_routing_path(scope)
    if routed == PREFIX:
        return "/"
    if not routed.startswith(f"{PREFIX}/"):
        raise NotFound("HTTP 404 Not Found")
    return routed[len(PREFIX) :]


async def _forward(request: Request, client: httpx.AsyncClient, path: str) -> Response:
    headers = {k: v for k in _FORWARDED_REQUEST_HEADERS if (v := request.headers.get(k))}
    headers["x-request-id"] = request_id.get() or ""
    headers |= propagated()
    query = request.url.query
    upstream = client.build_request(
        request.method,
        f"{path}?{query}" if query else path,
        headers=headers,
        content=request.stream(),
    )
    try:
        answer = await client.send(upstream, stream=True)
    except httpx.TimeoutException as exc:
        raise RegistryTimeout(f"the schema registry did not answer in time: {exc}") from exc
    except httpx.TransportError as exc:
        raise RegistryUnreachable(f"the schema registry cannot be reached: {exc}") from exc
    kept = {k: v for k in _FORWARDED_RESPONSE_HEADERS if (v := answer.headers.get(k))}
    return StreamingResponse(
        answer.aiter_raw(),
        status_code=answer.status_code,
        headers=kept,
        background=BackgroundTask(answer.aclose),
    )
