"""The one exception hierarchy of ndxp.

Every error a client can cause is an :class:`NdxpError` with an HTTP status and a stable ``code``;
the HTTP layer renders it (``application/problem+json`` for the gateway, Confluent's format for the
registry). Anything else reaching the handler is a bug: a logged 500 with a request id.
"""

from __future__ import annotations

from typing import Any, ClassVar


class NdxpError(Exception):
    """Base of all ndxp errors; subclasses set ``status`` and ``code``."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = "Internal error"
    # A finer numeric code for APIs that have them (the registry speaks Confluent's 40401, ...).
    error_code: ClassVar[int | None] = None

    def __init__(
        self,
        message: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or []
        self.headers = headers or {}


class BadRequest(NdxpError):
    status = 400
    code = "bad_request"
    title = "Bad request"


class Unauthorized(NdxpError):
    status = 401
    code = "unauthorized"
    title = "Authentication required"


class Forbidden(NdxpError):
    status = 403
    code = "forbidden"
    title = "Not allowed"


class NotFound(NdxpError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(NdxpError):
    status = 409
    code = "conflict"
    title = "Conflict"


class PayloadTooLarge(NdxpError):
    status = 413
    code = "payload_too_large"
    title = "Payload too large"


class UnsupportedMediaType(NdxpError):
    status = 415
    code = "unsupported_media_type"
    title = "Unsupported media type"


class Unprocessable(NdxpError):
    status = 422
    code = "validation_failed"
    title = "Validation failed"


class RateLimited(NdxpError):
    status = 429
    code = "rate_limited"
    title = "Too many requests"


class Unavailable(NdxpError):
    """A dependency (Kafka, the database) is down: retry later, nothing was written."""

    status = 503
    code = "unavailable"
    title = "Service unavailable"
