"""ASGI middleware shared by every service: request ids, HTTP metrics, and the answer to a fault.

A route that fails unexpectedly is answered here, not by Starlette's ``ServerErrorMiddleware``:
that one re-raises after answering, and uvicorn then closes the client's connection. Answered
here, the 500 is an ordinary response (the service's error body with the request id, the
``X-Request-ID`` header), it is logged once with its traceback and the request id, and the
connection stays open for the client's next request.
"""

from __future__ import annotations

import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.core.http.errors import INTERNAL_ERROR, ErrorRenderer, log_failure, problem_json
from services.core.logging import request_id
from services.core.metrics import HTTP_DURATION, HTTP_REQUESTS

_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestContextMiddleware:
    """Gives each request an id (the caller's ``X-Request-ID`` when sane), echoes it back, counts
    the request by route template so label values stay bounded, and answers a fault with a 500
    in the service's format (``render``)."""

    def __init__(self, app: ASGIApp, service: str, render: ErrorRenderer = problem_json) -> None:
        self.app = app
        self.service = service
        self.render = render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = given if _VALID_ID.match(given) else uuid.uuid4().hex
        token = request_id.set(rid)
        status = 500
        started = time.perf_counter()
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status, response_started = message["status"], True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            log_failure(scope["method"], scope["path"], exc)
            if response_started:  # half an answer is out: only closing the connection tells
                raise
            response = self.render(INTERNAL_ERROR.info("an unexpected error occurred"))
            await response(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            # the template without convertors ({subject}, not {subject:segment})
            template = getattr(route, "path_format", None) or "unmatched"
            method = scope["method"]
            HTTP_REQUESTS.labels(self.service, method, template, str(status)).inc()
            HTTP_DURATION.labels(self.service, method, template).observe(
                time.perf_counter() - started
            )
            request_id.reset(token)
