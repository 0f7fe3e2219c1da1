"""``/v1/datasets``: an agency creates its datasets, evolves their contracts, edits metadata."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from services.core.audit import AuditEvent
from services.core.audit.deps import Audit
from services.core.auth.deps import Authenticated
from services.core.http.json_body import JsonRoute
from services.core.http.openapi import raises
from services.gateway import route_errors as errors
from services.gateway.catalog import datasets
from services.gateway.catalog.metadata import ContractIn, DatasetIn, DatasetPatch, dataset_document
from services.gateway.deps import BackendsDep

router = APIRouter(prefix="/v1/datasets", tags=["datasets"], route_class=JsonRoute)


@router.post("", status_code=201, responses=raises(*errors.NEW_DATASET))
async def create_dataset(
    body: DatasetIn,
    principal: Authenticated,
    backends: BackendsDep,
    audit: Audit,
    request: Request,
    response: Response,
) -> dict[str, Any]:
    auth = request.headers.get("authorization")
    dataset, publisher, registered = await datasets.create_dataset(backends, principal, body, auth)
    details = {"topic": dataset_document(dataset, publisher).get("topic"), **registered}
    await audit.record(
        AuditEvent("dataset.create", principal.agency, principal.client_id,
                   dataset=dataset.id, provider=dataset.agency_id, details=details)
    )  # fmt: skip
    response.headers["Location"] = f"/v1/catalog/{dataset.id}"
    return {**dataset_document(dataset, publisher), "contract": registered}


@router.put("/{dataset}/contract", responses=raises(*errors.EVOLVE_CONTRACT))
async def evolve_contract(
    dataset: str,
    body: ContractIn,
    principal: Authenticated,
    backends: BackendsDep,
    audit: Audit,
    request: Request,
) -> dict[str, Any]:
    auth = request.headers.get("authorization")
    evolved = await datasets.evolve_contract(backends, principal, dataset, body, auth)
    await audit.record(
        AuditEvent("contract.evolve", principal.agency, principal.client_id, dataset=dataset,
                   provider=dataset.split(".", 1)[0], details=evolved)
    )  # fmt: skip
    return evolved


@router.patch("/{dataset}", responses=raises(*errors.EDIT_DATASET))
async def update_dataset(
    dataset: str, body: DatasetPatch, principal: Authenticated, backends: BackendsDep
) -> dict[str, Any]:
    found, publisher = await datasets.update_dataset(backends, principal, dataset, body)
    return dataset_document(found, publisher)
