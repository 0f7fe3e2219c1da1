"""``/v1/catalog``: search the datasets an agency may see, and read one's full entry."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from services.core.auth.deps import Authenticated
from services.core.http.json_body import JsonRoute
from services.core.http.openapi import raises
from services.gateway import route_errors as errors
from services.gateway.catalog import entries
from services.gateway.catalog.entries import CatalogQuery
from services.gateway.deps import BackendsDep

router = APIRouter(prefix="/v1/catalog", tags=["catalog"], route_class=JsonRoute)


@router.get("", responses=raises(*errors.CATALOG))
async def search_catalog(
    query: Annotated[CatalogQuery, Query()], principal: Authenticated, backends: BackendsDep
) -> dict[str, Any]:
    return await entries.search(backends, principal, query)


@router.get("/{dataset}", responses=raises(*errors.CATALOG_ENTRY))
async def get_entry(
    dataset: str, principal: Authenticated, backends: BackendsDep, request: Request
) -> dict[str, Any]:
    return await entries.entry(backends, principal, dataset, request.headers.get("authorization"))
