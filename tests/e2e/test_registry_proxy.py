"""Unmodified Confluent clients through the gateway's ``/registry``: with client credentials as
HTTP Basic (``basic.auth.user.info``) and with a bearer token; refused without either, and no
agency writes another agency's contract."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from services.core.local_kafka import free_port
from tests.fixtures.catalog import Caller, Hub
from tests.fixtures.gateway import gateway_settings, serve_gateway


def contract(agency: str, *extra: dict[str, Any]) -> str:
    return json.dumps(
        {
            "type": "record",
            "name": "Notice",
            "namespace": f"vn.gov.{agency.replace('-', '_')}",
            "doc": "A public notice.",
            "fields": [
                {"name": "notice_id", "type": "string", "doc": "Notice id."},
                *extra,
            ],
        }
    )


OPTIONAL = {"name": "title", "type": ["null", "string"], "default": None, "doc": "Title."}


@contextmanager
def confluent(hub: Hub, **auth: str) -> Iterator[SchemaRegistryClient]:
    with SchemaRegistryClient({"url": f"{hub.url}/registry", **auth}) as client:
        yield client


def basic(caller: Caller) -> dict[str, str]:
    return {"basic.auth.user.info": f"{caller.client_id}:{caller.secret}"}


def bearer(caller: Caller) -> dict[str, str]:
    return {
        "bearer.auth.credentials.source": "STATIC_TOKEN",
        "bearer.auth.token": caller.token,
        "bearer.auth.logical.cluster": "ndxp",
    }


def subject_of(caller: Caller) -> str:
    return f"{caller.agency}.notices-{uuid.uuid4().hex[:6]}.v1-value"


@pytest.mark.parametrize("credentials", [basic, bearer], ids=["basic", "bearer"])
async def test_confluent_client_registers_and_reads_through_the_gateway(
    hub: Hub, credentials: Any
) -> None:
    owner = await hub.caller("registry:write", "catalog:read")
    subject = subject_of(owner)
    with confluent(hub, **credentials(owner)) as client:
        first = client.register_schema(subject, Schema(contract(owner.agency), "AVRO"))
        second = client.register_schema(subject, Schema(contract(owner.agency, OPTIONAL), "AVRO"))
        assert client.get_versions(subject) == [1, 2]
        assert client.get_latest_version(subject).schema_id == second
        assert json.loads(client.get_schema(first).schema_str)["fields"][0]["name"] == "notice_id"
        assert client.lookup_schema(subject, Schema(contract(owner.agency), "AVRO")).version == 1
        assert client.test_compatibility(subject, Schema(contract(owner.agency), "AVRO"))
    async with hub.registry(owner) as direct:  # it really is in the registry behind the gateway
        assert (await direct.get(f"/subjects/{subject}/versions")).json() == [1, 2]


async def test_without_credentials_the_gateway_refuses_in_confluent_form(hub: Hub) -> None:
    owner = await hub.caller("registry:write")
    with confluent(hub) as anonymous, pytest.raises(SchemaRegistryError) as refused:
        anonymous.register_schema(subject_of(owner), Schema(contract(owner.agency), "AVRO"))
    assert refused.value.http_status_code == 401
    async with httpx.AsyncClient(base_url=hub.url) as raw:
        answer = await raw.get("/registry/subjects")
        assert answer.status_code == 401
        assert answer.json()["error_code"] == 401
        assert answer.headers["www-authenticate"].startswith("Bearer")
        wrong = await raw.get("/registry/subjects", auth=(owner.client_id, "not-the-secret"))
        assert wrong.status_code == 401


async def test_reading_needs_a_token_writing_needs_registry_write_and_ownership(hub: Hub) -> None:
    owner = await hub.caller("registry:write")
    reader = await hub.caller("catalog:read")
    other = await hub.caller("registry:write")
    subject = subject_of(owner)
    with confluent(hub, **basic(owner)) as client:
        client.register_schema(subject, Schema(contract(owner.agency), "AVRO"))

    with confluent(hub, **bearer(reader)) as client:
        assert client.get_versions(subject) == [1]  # any agency reads contracts
        with pytest.raises(SchemaRegistryError) as no_scope:
            client.register_schema(subject, Schema(contract(owner.agency, OPTIONAL), "AVRO"))
        assert no_scope.value.http_status_code == 403

    with confluent(hub, **bearer(other)) as client:
        with pytest.raises(SchemaRegistryError) as not_owner:
            client.register_schema(subject, Schema(contract(owner.agency, OPTIONAL), "AVRO"))
        assert not_owner.value.http_status_code == 403
        assert "belongs to a dataset of agency" in not_owner.value.error_message
        with pytest.raises(SchemaRegistryError):
            client.delete_subject(subject)
        with pytest.raises(SchemaRegistryError) as global_config:
            client.set_compatibility(level="NONE")
        assert global_config.value.http_status_code == 403

    with confluent(hub, **basic(owner)) as client:
        assert client.get_versions(subject) == [1]  # nothing the others tried was written
        assert client.get_compatibility() != "NONE"


async def test_registry_down_is_a_503_in_confluent_form(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    settings = gateway_settings(
        tmp_path, kafka_bootstrap, registry_url=f"http://127.0.0.1:{free_port()}"
    )
    with serve_gateway(settings) as lonely:
        agency = await lonely.create_agency()
        client_id, secret = await lonely.create_client(agency, ["catalog:read"])
        async with httpx.AsyncClient(base_url=lonely.url) as raw:
            answer = await raw.get("/registry/subjects", auth=(client_id, secret))
    assert answer.status_code == 503
    assert answer.json()["error_code"] == 50003
