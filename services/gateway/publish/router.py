"""``POST /v1/datasets/{dataset}/events``: the owning agency publishes a batch of records."""

from __future__ import annotations

import time
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Query, Request, Response

from services.core.audit.deps import Audit
from services.core.events.body import AVRO, JSON, NDJSON, body_format, read_body
from services.core.events.encode import PublishRequest
from services.core.http.json_body import JsonRoute
from services.core.http.openapi import raises
from services.gateway import route_errors as errors
from services.gateway.deps import PublishCaller, PublishDep
from services.gateway.publish import batch

router = APIRouter(prefix="/v1/datasets", tags=["publish"], route_class=JsonRoute)

_RECORDS: dict[str, Any] = {  # a media type has no description of its own: its schema does
    "schema": {
        "description": "Records: values or {key, value, event_id} envelopes.",
        "type": "array",
        "items": {},
    }
}
OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            JSON: _RECORDS,
            NDJSON: {"schema": {"type": "string"}},
            AVRO: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


@router.post(
    "/{dataset}/events",
    status_code=201,
    openapi_extra=OPENAPI,
    responses=raises(*errors.PUBLISH),
)
async def publish_events(
    dataset: str,
    principal: PublishCaller,
    state: PublishDep,
    audit: Audit,
    request: Request,
    schema_version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    idempotency_key: Annotated[str | None, Header()] = None,
    traceparent: Annotated[str | None, Header()] = None,
) -> Response:
    started = time.perf_counter()
    to = await batch.target(state, principal, dataset)
    with batch.counted_rejections(to.dataset):
        fmt = body_format(request.headers.get("content-type"))
        body = await read_body(
            request.stream(), request.headers.get("content-length"), state.max_bytes
        )
        answer = await batch.publish(
            state,
            principal,
            to,
            PublishRequest(
                fmt,
                body,
                schema_version=schema_version,
                idempotency_key=idempotency_key,
                traceparent=traceparent,
                auth=request.headers.get("authorization"),
            ),
            audit=audit,
            started=started,
        )
    headers = {"Idempotent-Replayed": "true"} if answer.replayed else None
    return Response(
        orjson.dumps(answer.body),
        status_code=answer.status,
        media_type="application/json",
        headers=headers,
    )
