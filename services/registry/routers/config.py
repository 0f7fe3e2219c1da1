"""``/config`` and ``/mode``: compatibility, ndxp lint level and mode, global or a subject's."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from services.core.http.confluent_extras import extras_wanted
from services.core.http.json_body import JsonRoute
from services.core.http.openapi import raises
from services.registry import errors
from services.registry.deps import RegistryDep, Subject, read_json, reply

router = APIRouter(tags=["config"], route_class=JsonRoute)


def _config(values: dict[str, str]) -> Response:
    """Confluent's fields; ndxp's ``lint`` only for a request that asked for the extras."""
    shown = values if extras_wanted.get() else {k: v for k, v in values.items() if k != "lint"}
    return reply(shown)


@router.get("/config")
async def get_global_config(registry: RegistryDep) -> Response:
    return _config(await registry.config(None, default_to_global=True))


@router.put("/config", responses=raises(*errors.SET_CONFIG))
async def put_global_config(request: Request, registry: RegistryDep) -> Response:
    return _config(await registry.set_config(None, await read_json(request, registry)))


@router.delete("/config", responses=raises(errors.StoreError))
async def delete_global_config(registry: RegistryDep) -> Response:
    return _config(await registry.delete_config(None))


@router.get("/config/{subject:segment}", responses=raises(errors.SubjectConfigNotFound))
async def get_subject_config(
    subject: Subject,
    registry: RegistryDep,
    default_to_global: Annotated[bool, Query(alias="defaultToGlobal")] = False,
) -> Response:
    return _config(await registry.config(subject, default_to_global=default_to_global))


@router.put("/config/{subject:segment}", responses=raises(*errors.SET_CONFIG))
async def put_subject_config(subject: Subject, request: Request, registry: RegistryDep) -> Response:
    return _config(await registry.set_config(subject, await read_json(request, registry)))


@router.delete(
    "/config/{subject:segment}", responses=raises(errors.SubjectConfigNotFound, errors.StoreError)
)
async def delete_subject_config(subject: Subject, registry: RegistryDep) -> Response:
    return _config(await registry.delete_config(subject))


@router.get("/mode")
async def get_global_mode(registry: RegistryDep) -> Response:
    return reply({"mode": await registry.mode(None, default_to_global=True)})


@router.put("/mode", responses=raises(*errors.SET_MODE))
async def put_global_mode(request: Request, registry: RegistryDep, force: bool = False) -> Response:
    body = await read_json(request, registry)
    return reply({"mode": await registry.set_mode(None, body, force=force)})


@router.delete("/mode", responses=raises(errors.StoreError))
async def delete_global_mode(registry: RegistryDep) -> Response:
    return reply({"mode": await registry.delete_mode(None)})


@router.get("/mode/{subject:segment}", responses=raises(errors.SubjectModeNotFound))
async def get_subject_mode(
    subject: Subject,
    registry: RegistryDep,
    default_to_global: Annotated[bool, Query(alias="defaultToGlobal")] = False,
) -> Response:
    return reply({"mode": await registry.mode(subject, default_to_global=default_to_global)})


@router.put("/mode/{subject:segment}", responses=raises(*errors.SET_MODE))
async def put_subject_mode(
    subject: Subject, request: Request, registry: RegistryDep, force: bool = False
) -> Response:
    body = await read_json(request, registry)
    return reply({"mode": await registry.set_mode(subject, body, force=force)})


@router.delete(
    "/mode/{subject:segment}", responses=raises(errors.SubjectModeNotFound, errors.StoreError)
)
async def delete_subject_mode(subject: Subject, registry: RegistryDep) -> Response:
    return reply({"mode": await registry.delete_mode(subject)})
