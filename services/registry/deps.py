"""Request plumbing of the registry: its state, JSON bodies, replies in Confluent's media type."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Depends, Request, Response

from services.core import bounded_json
from services.core.errors import UnsupportedMediaType
from services.core.http import segments
from services.core.http.openapi import raising
from services.core.subjects import InvalidSubject, check_subject
from services.registry.errors import MEDIA_TYPE, SchemaNotFound, SchemaTooLarge
from services.registry.registry import Registry
from services.registry.schema import JAVA_INT_MAX

ACCEPTED_TYPES = frozenset(
    {
        "application/vnd.schemaregistry.v1+json",
        "application/vnd.schemaregistry+json",
        "application/json",
        "application/octet-stream",
    }
)
# The routes take their path parameters as ``{name:segment}``, decoded from the routing form.
SEGMENT = segments.register()
# Room for JSON escaping and the references around a schema of the largest allowed size.
_BODY_OVERHEAD = 64 * 1024


def get_registry(request: Request) -> Registry:
    registry: Registry = request.state.registry
    return registry


RegistryDep = Annotated[Registry, Depends(get_registry)]


async def read_json(request: Request, registry: Registry) -> Any:
    """The request's JSON body; 415 for another media type, 42209 when too large, 400 if broken
    or beyond the limits of :mod:`services.core.bounded_json`."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type and media_type not in ACCEPTED_TYPES:
        raise UnsupportedMediaType(f"HTTP 415 Unsupported Media Type: {media_type}")
    limit = 2 * registry.settings.max_schema_bytes + _BODY_OVERHEAD
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise SchemaTooLarge(f"the request body is larger than {limit} bytes")
    return bounded_json.loads(body, max_depth=registry.settings.max_json_depth)


def reply(body: Any, status_code: int = 200) -> Response:
    return Response(json.dumps(body), status_code=status_code, media_type=MEDIA_TYPE)


@raising(SchemaNotFound)
def schema_id_param(schema_id: str) -> int:
    """A schema id from the path; anything that is not one is simply not found (40403)."""
    number = id_number(schema_id)
    if number is None:
        raise SchemaNotFound("Schema not found")
    return number


def id_number(text: str) -> int | None:
    """The schema id ``text`` spells in ASCII digits, None if it spells no id there can be."""
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(JAVA_INT_MAX)):
        return None
    number = int(text)
    return number if number <= JAVA_INT_MAX else None


SchemaId = Annotated[int, Depends(schema_id_param)]


@raising(InvalidSubject)
def subject_param(subject: str) -> str:
    """The subject a path names, checked and in the spelling the registry stores (42208 if no
    endpoint takes it): every route that takes a subject takes it through here."""
    return check_subject(subject)


Subject = Annotated[str, Depends(subject_param)]
