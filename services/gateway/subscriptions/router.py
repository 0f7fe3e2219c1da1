"""``/v1/subscriptions``: a consumer agency's subscriptions, and delivery by pull and by SSE
(push subscriptions are delivered by connect: :mod:`services.gateway.subscriptions.push`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict

from services.core.audit.deps import Audit
from services.core.http.json_body import JsonRoute
from services.core.http.openapi import raises
from services.gateway import route_errors as errors
from services.gateway.deps import ConnectConfigsDep, SubscribeCaller, SubscribeDep
from services.gateway.subscriptions import lifecycle, pull, stream
from services.gateway.subscriptions.lifecycle import ResetIn, SubscriptionIn

router = APIRouter(prefix="/v1/subscriptions", tags=["subscriptions"], route_class=JsonRoute)


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cursor: str


@router.post("", status_code=201, responses=raises(*errors.NEW_SUBSCRIPTION))
async def create_subscription(
    body: SubscriptionIn,
    principal: SubscribeCaller,
    sub: SubscribeDep,
    connect: ConnectConfigsDep,
    auditor: Audit,
    response: Response,
) -> dict[str, Any]:
    created = await lifecycle.create(sub, principal, body, auditor, connect)
    response.headers["Location"] = f"/v1/subscriptions/{created['id']}"
    return created


@router.get("")
async def list_subscriptions(principal: SubscribeCaller, sub: SubscribeDep) -> dict[str, Any]:
    return {"subscriptions": await lifecycle.list_all(sub, principal)}


@router.get("/{subscription_id}", responses=raises(*errors.SUBSCRIPTION))
async def read_subscription(
    subscription_id: str, principal: SubscribeCaller, sub: SubscribeDep
) -> dict[str, Any]:
    return await lifecycle.read(sub, principal, subscription_id)


@router.delete("/{subscription_id}", status_code=204, responses=raises(*errors.SUBSCRIPTION))
async def delete_subscription(
    subscription_id: str,
    principal: SubscribeCaller,
    sub: SubscribeDep,
    connect: ConnectConfigsDep,
    auditor: Audit,
) -> Response:
    await lifecycle.delete(sub, principal, subscription_id, auditor, connect)
    return Response(status_code=204)


@router.post("/{subscription_id}/reset", responses=raises(*errors.RESET))
async def reset_subscription(
    subscription_id: str,
    body: ResetIn,
    principal: SubscribeCaller,
    sub: SubscribeDep,
    auditor: Audit,
) -> dict[str, Any]:
    return await lifecycle.reset(sub, principal, subscription_id, body, auditor)


@router.get("/{subscription_id}/events", responses=raises(*errors.PULL))
async def pull_events(
    subscription_id: str,
    principal: SubscribeCaller,
    sub: SubscribeDep,
    auditor: Audit,
    request: Request,
    max_records: Annotated[int, Query(alias="max", ge=1, le=pull.MAX_RECORDS)] = 500,
    wait: Annotated[float, Query(ge=0, le=pull.MAX_WAIT)] = 10.0,
) -> Response:
    body = await pull.pull(
        sub,
        principal,
        subscription_id,
        max_records=max_records,
        wait=wait,
        auth=request.headers.get("authorization"),
        auditor=auditor,
    )
    return Response(body, media_type="application/json")


@router.post("/{subscription_id}/ack", responses=raises(*errors.ACK))
async def ack_events(
    subscription_id: str, body: AckIn, principal: SubscribeCaller, sub: SubscribeDep
) -> dict[str, Any]:
    return await pull.ack(sub, principal, subscription_id, body.cursor)


@router.get("/{subscription_id}/stream", responses=raises(*errors.STREAM))
async def stream_events(
    subscription_id: str,
    principal: SubscribeCaller,
    sub: SubscribeDep,
    auditor: Audit,
    request: Request,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    return await stream.open_stream(
        sub,
        principal,
        subscription_id,
        last_event_id=last_event_id,
        auth=request.headers.get("authorization"),
        auditor=auditor,
    )
