"""``/subjects``: subjects, their versions, registering and looking up schemas."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from services.core.http.confluent_extras import extras_wanted
from services.core.http.json_body import JsonRoute
from services.core.http.openapi import raises
from services.core.subjects import resolve_prefix
from services.registry import errors
from services.registry.deps import RegistryDep, Subject, read_json, reply
from services.registry.registry import SchemaRequest

router = APIRouter(prefix="/subjects", tags=["subjects"], route_class=JsonRoute)


@router.get("")
async def list_subjects(
    registry: RegistryDep,
    subject_prefix: Annotated[str, Query(alias="subjectPrefix")] = "",
    deleted: bool = False,
    deleted_only: Annotated[bool, Query(alias="deletedOnly")] = False,
) -> Response:
    prefix = resolve_prefix(subject_prefix)
    return reply(await registry.subjects(prefix, deleted=deleted, deleted_only=deleted_only))


@router.post("/{subject:segment}", responses=raises(*errors.LOOKUP))
async def lookup_schema(
    subject: Subject,
    request: Request,
    registry: RegistryDep,
    normalize: bool = False,
    deleted: bool = False,
) -> Response:
    body = SchemaRequest.from_json(await read_json(request, registry))
    return reply(await registry.lookup(subject, body, normalize=normalize, deleted=deleted))


@router.delete("/{subject:segment}", responses=raises(*errors.DELETE_SUBJECT))
async def delete_subject(
    subject: Subject, registry: RegistryDep, permanent: bool = False
) -> Response:
    return reply(await registry.delete_subject(subject, permanent=permanent))


@router.get("/{subject:segment}/versions", responses=raises(errors.SubjectNotFound))
async def list_versions(
    subject: Subject,
    registry: RegistryDep,
    deleted: bool = False,
    deleted_only: Annotated[bool, Query(alias="deletedOnly")] = False,
) -> Response:
    return reply(await registry.versions(subject, deleted=deleted, deleted_only=deleted_only))


@router.post("/{subject:segment}/versions", responses=raises(*errors.REGISTER))
async def register_schema(
    subject: Subject, request: Request, registry: RegistryDep, normalize: bool = False
) -> Response:
    body = SchemaRequest.from_json(await read_json(request, registry))
    registered = await registry.register(subject, body, normalize=normalize)
    # Confluent's answer is the id (pre-7.4 clients know no other field); ndxp's own clients ask
    # for the version and the lint warnings (services.core.http.confluent_extras).
    answer: dict[str, object] = {"id": registered.id}
    if extras_wanted.get():
        answer["version"] = registered.version
        if registered.warnings:
            answer["warnings"] = [asdict(finding) for finding in registered.warnings]
    return reply(answer)


@router.get("/{subject:segment}/versions/{version:segment}", responses=raises(*errors.VERSION))
async def get_version(
    subject: Subject, version: str, registry: RegistryDep, deleted: bool = False
) -> Response:
    return reply(await registry.version(subject, version, deleted=deleted))


@router.get(
    "/{subject:segment}/versions/{version:segment}/schema", responses=raises(*errors.VERSION)
)
async def get_version_schema(
    subject: Subject, version: str, registry: RegistryDep, deleted: bool = False
) -> Response:
    found = await registry.version(subject, version, deleted=deleted)
    return Response(found["schema"], media_type="application/vnd.schemaregistry.v1+json")


@router.get(
    "/{subject:segment}/versions/{version:segment}/referencedby", responses=raises(*errors.VERSION)
)
async def referenced_by(subject: Subject, version: str, registry: RegistryDep) -> Response:
    return reply(await registry.referenced_by(subject, version))


@router.delete(
    "/{subject:segment}/versions/{version:segment}", responses=raises(*errors.DELETE_VERSION)
)
async def delete_version(
    subject: Subject, version: str, registry: RegistryDep, permanent: bool = False
) -> Response:
    return reply(await registry.delete_version(subject, version, permanent=permanent))
