"""``/connectors``: Kafka Connect's REST API over the worker."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Response, status
from pydantic import BaseModel, Field

from services.connectors.api.deps import Visible, WorkerDep
from services.connectors.configs import ConfigInvalid
from services.connectors.worker import ConnectorExists, ConnectorNotFound, NotStopped, SinkOffsets
from services.core.errors import Unavailable
from services.core.http.json_body import JsonRoute
from services.core.http.openapi import raises

router = APIRouter(prefix="/connectors", tags=["connectors"], route_class=JsonRoute)
OFFSETS = (
    ConnectorNotFound,
    SinkOffsets,
    NotStopped,
    Unavailable,
)  # altering a connector's offsets


class NewConnector(BaseModel):
    name: str
    config: dict[str, Any]


class OffsetEntry(BaseModel):
    partition: dict[str, Any] = Field(default_factory=dict)
    offset: dict[str, Any] | None


class Offsets(BaseModel):
    offsets: list[OffsetEntry] = Field(min_length=1, max_length=1)


@router.get("")
async def list_connectors(worker: WorkerDep, viewer: Visible) -> list[str]:
    await worker.sync()
    return viewer.names(worker)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=raises(ConfigInvalid, ConnectorExists, Unavailable),
)
async def create_connector(body: NewConnector, worker: WorkerDep) -> dict[str, Any]:
    return await worker.create(body.name, body.config)


@router.get("/{name}", responses=raises(ConnectorNotFound))
async def get_connector(name: str, worker: WorkerDep, viewer: Visible) -> dict[str, Any]:
    await worker.sync()
    viewer.check(worker, name)
    return worker.info(name)


@router.get("/{name}/config", responses=raises(ConnectorNotFound))
async def get_config(name: str, worker: WorkerDep, viewer: Visible) -> dict[str, Any]:
    await worker.sync()
    viewer.check(worker, name)
    return worker.config_of(name)


@router.put("/{name}/config", responses=raises(ConfigInvalid, Unavailable))
async def put_config(
    name: str, worker: WorkerDep, response: Response, config: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    info, created = await worker.put_config(name, config)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return info


@router.delete(
    "/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=raises(ConnectorNotFound, Unavailable),
)
async def delete_connector(name: str, worker: WorkerDep) -> None:
    await worker.delete(name)


@router.get("/{name}/status", responses=raises(ConnectorNotFound))
async def get_status(name: str, worker: WorkerDep, viewer: Visible) -> dict[str, Any]:
    await worker.sync()
    viewer.check(worker, name)
    return worker.status(name)


@router.put(
    "/{name}/pause",
    status_code=status.HTTP_202_ACCEPTED,
    responses=raises(ConnectorNotFound, Unavailable),
)
async def pause(name: str, worker: WorkerDep) -> None:
    await worker.set_target(name, "PAUSED")


@router.put(
    "/{name}/resume",
    status_code=status.HTTP_202_ACCEPTED,
    responses=raises(ConnectorNotFound, Unavailable),
)
async def resume(name: str, worker: WorkerDep) -> None:
    await worker.set_target(name, "RUNNING")


@router.put(
    "/{name}/stop",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=raises(ConnectorNotFound, Unavailable),
)
async def stop(name: str, worker: WorkerDep) -> None:
    await worker.set_target(name, "STOPPED")


@router.post(
    "/{name}/restart",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=raises(ConnectorNotFound, Unavailable),
)
async def restart(name: str, worker: WorkerDep) -> None:
    await worker.restart(name)


@router.get("/{name}/offsets", responses=raises(ConnectorNotFound))
async def get_offsets(name: str, worker: WorkerDep, viewer: Visible) -> dict[str, Any]:
    await worker.sync()
    viewer.check(worker, name)
    return await worker.offsets(name)


@router.patch("/{name}/offsets", responses=raises(*OFFSETS))
async def alter_offsets(name: str, body: Offsets, worker: WorkerDep) -> dict[str, str]:
    await worker.alter_offsets(name, body.offsets[0].offset)
    return {"message": "The offsets for this connector have been altered successfully"}


@router.delete("/{name}/offsets", responses=raises(*OFFSETS))
async def reset_offsets(name: str, worker: WorkerDep) -> dict[str, str]:
    await worker.alter_offsets(name, None)
    return {"message": "The offsets for this connector have been reset successfully"}
