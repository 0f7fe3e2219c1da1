"""``/schemas``: schemas by their global id."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from services.core.bounded_json import Int64
from services.core.http.json_body import JsonRoute
from services.core.subjects import resolve_prefix
from services.registry.deps import RegistryDep, SchemaId, reply
from services.registry.errors import MEDIA_TYPE
from services.registry.schema import SUPPORTED_TYPES

router = APIRouter(prefix="/schemas", tags=["schemas"], route_class=JsonRoute)


@router.get("/ids/{schema_id:segment}")
async def get_schema(schema_id: SchemaId, registry: RegistryDep) -> Response:
    return Response(await registry.schema_id_body(schema_id), media_type=MEDIA_TYPE)


@router.get("/ids/{schema_id:segment}/schema")
async def get_raw_schema(schema_id: SchemaId, registry: RegistryDep) -> Response:
    return Response((await registry.schema(schema_id)).text, media_type=MEDIA_TYPE)


@router.get("/ids/{schema_id:segment}/subjects")
async def get_schema_subjects(
    schema_id: SchemaId, registry: RegistryDep, deleted: bool = False
) -> Response:
    rows = await registry.schema_usages(schema_id, deleted=deleted)
    return reply(list(dict.fromkeys(row.subject for row in rows)))


@router.get("/ids/{schema_id:segment}/versions")
async def get_schema_versions(
    schema_id: SchemaId, registry: RegistryDep, deleted: bool = False
) -> Response:
    rows = await registry.schema_usages(schema_id, deleted=deleted)
    return reply([{"subject": row.subject, "version": row.version} for row in rows])


@router.get("/types")
async def get_types() -> Response:
    return reply(list(SUPPORTED_TYPES))


@router.get("")
async def list_schemas(
    registry: RegistryDep,
    subject_prefix: Annotated[str, Query(alias="subjectPrefix")] = "",
    deleted: bool = False,
    latest_only: Annotated[bool, Query(alias="latestOnly")] = False,
    offset: Int64 = 0,
    limit: Int64 = -1,
) -> Response:
    prefix = resolve_prefix(subject_prefix)
    found = await registry.all_schemas(prefix, deleted=deleted, latest_only=latest_only)
    found = found[max(offset, 0) :]
    return reply(found if limit < 0 else found[:limit])
