"""The root, contexts and cluster metadata of the Confluent API."""

from __future__ import annotations

from fastapi import APIRouter, Response

from services.core.errors import Unavailable
from services.core.http.json_body import JsonRoute
from services.core.http.openapi import raises
from services.core.http.state import Core
from services.core.kafka.admin import check_kafka
from services.registry.deps import reply

router = APIRouter(tags=["meta"], route_class=JsonRoute)


@router.get("/")
async def root() -> Response:
    return reply({})


@router.get("/contexts")
async def contexts() -> Response:
    return reply(["."])


@router.get("/v1/metadata/id", responses=raises(Unavailable))
async def metadata_id(core: Core) -> Response:
    cluster = await check_kafka(core.settings.kafka, bootstrap=core.kafka_bootstrap)
    clusters = {"kafka-cluster": cluster.get("cluster_id"), "schema-registry-cluster": "ndxp"}
    return reply({"scope": {"path": [], "clusters": clusters}})
