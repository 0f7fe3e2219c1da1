"""The hot path of every Avro consumer: ``GET /schemas/ids/{id}``, answered from memory.

Deserializers fetch a writer schema by id for every new id they meet, and schemas never change,
so once an id's body is cached this middleware answers it without routing, dependency injection
or a database round trip. Anything else (a first look-up, query parameters, another path) falls
through to the full application.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from services.registry.deps import id_number
from services.registry.errors import MEDIA_TYPE

_PREFIX = "/schemas/ids/"
_HEADERS = [(b"content-type", MEDIA_TYPE.encode())]


class CachedSchemaById:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        schema_id = (
            id_number(path[len(_PREFIX) :])
            if scope["type"] == "http"
            and scope["method"] == "GET"
            and path.startswith(_PREFIX)
            and not scope.get("query_string")
            else None
        )
        if schema_id is not None:
            registry = scope.get("state", {}).get("registry")
            body = None if registry is None else registry.cached_id_body(schema_id)
            if body is not None:
                headers = [*_HEADERS, (b"content-length", str(len(body)).encode())]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
