"""The root, contexts and cluster metadata."""

from __future__ import annotations

import httpx

from services.core.kafka.admin import check_kafka
from tests.fixtures.kafka import kafka_test_settings
from tests.integration.registry.helpers import V1


def test_root_is_an_empty_object(client: httpx.Client) -> None:
    resp = client.get("/")

    assert resp.status_code == 200
    assert resp.headers["content-type"] == V1
    assert resp.json() == {}


def test_contexts_are_the_default_context(client: httpx.Client) -> None:
    resp = client.get("/contexts")

    assert resp.status_code == 200
    assert resp.headers["content-type"] == V1
    assert resp.json() == ["."]


async def test_metadata_id_names_the_kafka_cluster(registry_url: str, kafka_bootstrap: str) -> None:
    cluster = await check_kafka(kafka_test_settings(), bootstrap=kafka_bootstrap)

    async with httpx.AsyncClient(base_url=registry_url) as c:
        resp = await c.get("/v1/metadata/id")

    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == V1
    assert isinstance(cluster["cluster_id"], str)
    assert cluster["cluster_id"]
    assert resp.json() == {
        "scope": {
            "path": [],
            "clusters": {
                "kafka-cluster": cluster["cluster_id"],
                "schema-registry-cluster": "ndxp",
            },
        }
    }
