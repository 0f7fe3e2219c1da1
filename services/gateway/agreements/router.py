"""``/v1/agreements``: consumers request access to datasets, providers decide, either revokes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response

from services.core.audit.deps import Audit
from services.core.auth.deps import Authenticated
from services.core.http.json_body import JsonRoute
from services.core.http.openapi import raises
from services.gateway import route_errors as errors
from services.gateway.agreements import workflow
from services.gateway.agreements.terms import AgreementIn, AgreementQuery, Approval, Decision
from services.gateway.deps import BackendsDep

router = APIRouter(prefix="/v1/agreements", tags=["agreements"], route_class=JsonRoute)


@router.post("", status_code=201, responses=raises(*errors.NEW_AGREEMENT))
async def request_agreement(
    body: AgreementIn,
    principal: Authenticated,
    backends: BackendsDep,
    audit: Audit,
    request: Request,
    response: Response,
) -> dict[str, Any]:
    auth = request.headers.get("authorization")
    document = await workflow.request_agreement(backends, audit, principal, body, auth)
    response.headers["Location"] = f"/v1/agreements/{document['id']}"
    return document


@router.get("", responses=raises(*errors.AGREEMENTS))
async def list_agreements(
    query: Annotated[AgreementQuery, Query()],
    principal: Authenticated,
    backends: BackendsDep,
    audit: Audit,
) -> dict[str, Any]:
    return await workflow.list_agreements(backends, audit, principal, query)


@router.get("/{agreement_id}", responses=raises(*errors.AGREEMENT))
async def get_agreement(
    agreement_id: str, principal: Authenticated, backends: BackendsDep, audit: Audit
) -> dict[str, Any]:
    return await workflow.get_agreement(backends, audit, principal, agreement_id)


@router.post("/{agreement_id}/approve", responses=raises(*errors.APPROVAL))
async def approve(
    agreement_id: str,
    principal: Authenticated,
    backends: BackendsDep,
    audit: Audit,
    request: Request,
    body: Annotated[Approval | None, Body()] = None,
) -> dict[str, Any]:
    auth = request.headers.get("authorization")
    return await workflow.approve(
        backends, audit, principal, agreement_id, body or Approval(), auth=auth
    )


@router.post("/{agreement_id}/reject", responses=raises(*errors.DECISION))
async def reject(
    agreement_id: str,
    body: Decision,
    principal: Authenticated,
    backends: BackendsDep,
    audit: Audit,
) -> dict[str, Any]:
    return await workflow.reject(backends, audit, principal, agreement_id, body)


@router.post("/{agreement_id}/revoke", responses=raises(*errors.DECISION))
async def revoke(
    agreement_id: str,
    body: Decision,
    principal: Authenticated,
    backends: BackendsDep,
    audit: Audit,
) -> dict[str, Any]:
    return await workflow.revoke(backends, audit, principal, agreement_id, body)
