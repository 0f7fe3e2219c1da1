"""Rendering errors: every failure answers with a machine-readable body and a request id.

A service chooses the body format (``problem_json`` for the gateway and connect, the registry
brings Confluent's); the mapping from exceptions to status and code is the same everywhere.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.core.db.engine import database_busy
from services.core.errors import NdxpError
from services.core.http.confluent_extras import extras_wanted
from services.core.logging import request_id

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ErrorInfo:
    """What went wrong, independent of how a service spells it on the wire."""

    status: int
    code: str
    title: str
    detail: str
    errors: list[dict[str, Any]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    error_code: int | None = None


ErrorRenderer = Callable[[ErrorInfo], Response]


@dataclass(frozen=True)
class ErrorKind:
    """An error as the API documents it: status, stable code, title (and Confluent's number)."""

    status: int
    code: str
    title: str
    error_code: int | None = None

    def info(self, detail: str, errors: list[dict[str, Any]] | None = None) -> ErrorInfo:
        return ErrorInfo(
            self.status, self.code, self.title, detail, errors or [], error_code=self.error_code
        )


# The errors no exception class names: FastAPI's request validation, and any unexpected failure.
INVALID_REQUEST = ErrorKind(422, "invalid_request", "Invalid request")
INVALID_JSON = ErrorKind(400, "invalid_json", "Malformed JSON")
INTERNAL_ERROR = ErrorKind(500, "internal_error", "Internal error")
# The last line of defence when SQLite's write lock stays taken past the busy timeout.
DATABASE_BUSY = ErrorInfo(
    503, "unavailable", "Service unavailable", "the control plane is busy; retry shortly",
    headers={"Retry-After": "1"},
)  # fmt: skip

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def problem_json(info: ErrorInfo) -> Response:
    """RFC 9457 problem details with a stable ``code`` and the request id as ``instance``."""
    body: dict[str, Any] = {
        "type": f"urn:ndxp:problem:{info.code}",
        "title": info.title,
        "status": info.status,
        "detail": info.detail,
        "code": info.code,
        "instance": f"urn:ndxp:request:{request_id.get() or '-'}",
    }
    if info.errors:
        body["errors"] = info.errors
    return JSONResponse(
        body, status_code=info.status, headers=info.headers, media_type="application/problem+json"
    )


SCHEMA_REGISTRY_MEDIA_TYPE = "application/vnd.schemaregistry.v1+json"


def confluent_code(status: int, error_code: int | None) -> int:
    """The ``error_code`` Confluent's clients see: the finer code, else the HTTP status (50001
    for any 5xx)."""
    if error_code is not None:
        return error_code
    return 50001 if status >= 500 else status  # noqa: PLR2004


def confluent_json(info: ErrorInfo) -> Response:
    """Confluent Schema Registry's error body (``{"error_code": 40401, "message": ...}``), which
    its clients branch on; errors without a finer code use the HTTP status (50001 for 5xx). The
    ``errors`` list is ndxp's and goes only to a request that asked for the extras
    (:mod:`services.core.http.confluent_extras`): older Confluent clients refuse unknown fields."""
    message = info.detail
    if info.status >= 500:  # noqa: PLR2004 - a fault to report: say which request it was
        message = f"{message} (request id {request_id.get() or '-'})"
    body: dict[str, Any] = {
        "error_code": confluent_code(info.status, info.error_code),
        "message": message,
    }
    if info.errors and extras_wanted.get():
        body["errors"] = info.errors
    return JSONResponse(
        body, status_code=info.status, headers=info.headers, media_type=SCHEMA_REGISTRY_MEDIA_TYPE
    )


def _validation_info(exc: RequestValidationError) -> ErrorInfo:
    errors = [
        {"loc": list(err.get("loc", ())), "message": err.get("msg", ""), "type": err.get("type")}
        for err in exc.errors()
    ]
    if any(err["type"] == "json_invalid" for err in errors):
        return INVALID_JSON.info("the body is not valid JSON", errors)
    return INVALID_REQUEST.info("the request is invalid", errors)


def error_info(exc: Exception) -> ErrorInfo:
    """Map any exception to what the client is told; unknown ones are a 500."""
    if isinstance(exc, NdxpError):
        return ErrorInfo(
            exc.status, exc.code, exc.title, exc.message, exc.errors, exc.headers, exc.error_code
        )
    if isinstance(exc, RequestValidationError):
        return _validation_info(exc)
    if isinstance(exc, StarletteHTTPException) and isinstance(exc.__cause__, NdxpError):
        # FastAPI answers any failure to parse a body with a bare 400: the cause says what
        return error_info(exc.__cause__)
    if database_busy(exc):
        return DATABASE_BUSY
    if isinstance(exc, StarletteHTTPException):
        code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        title = code.replace("_", " ").capitalize()
        return ErrorInfo(exc.status_code, code, title, str(exc.detail), [], dict(exc.headers or {}))
    return INTERNAL_ERROR.info("an unexpected error occurred")


def log_failure(method: str, path: str, exc: BaseException) -> None:
    """A server fault, with its traceback; the log line carries the request id."""
    log.error("%s %s failed: %r", method, path[:200], exc, exc_info=exc)


def setup_exception_handlers(app: FastAPI, render: ErrorRenderer = problem_json) -> None:
    """Render ndxp's errors, FastAPI's validation and HTTP errors; anything else is answered by
    :class:`~services.core.http.middleware.RequestContextMiddleware` as a 500."""

    async def handle(request: Request, exc: Exception) -> Response:
        info = error_info(exc)
        if info.status >= 500:  # noqa: PLR2004 - server faults are logged with their traceback
            log_failure(request.method, request.url.path, exc)
        return render(info)

    for exc_type in (NdxpError, RequestValidationError, StarletteHTTPException):
        app.add_exception_handler(exc_type, handle)
