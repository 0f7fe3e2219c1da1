"""Contracts written with Confluent's data-contract tooling, on a hub started as an operator
starts it (``ndxp up``: tokens required, SQLite): a field tagged ``PII`` inline
(``confluent:tags``) or through the schema's ``metadata.tags`` is personal data to ndxp, so a
consumer whose agreement grants the default (non-personal) fields never receives it; and an old
Confluent client talking to the registry through the gateway sees Confluent's fields only."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.fixtures.hub import Hub
from tests.fixtures.reader import new_consumer

V1 = "application/vnd.schemaregistry.v1+json"
AGENCY = "demo"
FIELDS = ("change_id", "national_id", "full_name", "province_code")


@pytest.fixture
def hub(shared_hub: Hub) -> Hub:
    return shared_hub


def contract() -> dict[str, Any]:
    fields: list[dict[str, Any]] = [
        {"name": name, "type": "string", "doc": f"The {name}."} for name in FIELDS
    ]
    fields[1]["confluent:tags"] = ["PII"]  # national_id, the Confluent way inline
    return {
        "type": "record",
        "name": "Person",
        "namespace": f"vn.gov.{AGENCY}",
        "doc": "A change to a person's record.",
        "fields": fields,
    }


def create_dataset(http: httpx.Client, admin: dict[str, str]) -> str:
    body = {
        "name": f"people-{uuid.uuid4().hex[:8]}",
        "title": "People",
        "description": "Changes to people's records.",
        "theme": "population",
        "access_rights": "PUBLIC",
        "licence": "CC-BY-4.0",
        "contact_point": {"name": "Demo agency", "email": "demo@example.gov.vn"},
        "partitions": 1,
        "schema": json.dumps(contract()),
    }
    created = http.post("/v1/datasets", json=body, headers=admin)
    assert created.status_code == 201, created.text
    dataset: str = created.json()["id"]
    return dataset


def test_fields_tagged_pii_the_confluent_way_are_not_delivered(hub: Hub) -> None:
    admin = hub.headers()
    with httpx.Client(base_url=hub.gateway, timeout=30) as http:
        dataset = create_dataset(http, admin)
        subject = f"{dataset}.v1-value"
        # Confluent's tooling adds a version whose metadata tags full_name PII (old client: no
        # ndxp extras asked for, so the answer is the id alone)
        body = {
            "schema": json.dumps(contract()),
            "metadata": {"tags": {f"vn.gov.{AGENCY}.Person.full_name": ["PII"]}},
        }
        path = f"/registry/subjects/{subject}/versions"
        registered = http.post(path, json=body, headers=admin | {"Content-Type": V1})
        assert registered.status_code == 200, registered.text
        assert set(registered.json()) == {"id"}
        latest = http.get(f"/registry/subjects/{subject}/versions/latest", headers=admin).json()
        assert latest["version"] == 2 and latest["metadata"] == body["metadata"]
        config = http.get("/registry/config", headers=admin).json()
        assert set(config) == {"compatibilityLevel"}

        records = [{"key": f"k{i}", "value": dict.fromkeys(FIELDS, f"v{i}")} for i in range(3)]
        published = http.post(f"/v1/datasets/{dataset}/events", json=records, headers=admin)
        assert published.status_code == 201, published.text

        reader = new_consumer(http, admin)
        requested = http.post(
            "/v1/agreements",
            headers=reader,
            json={
                "dataset": dataset,
                "purpose": "Statistics",
                "legal_basis": "Demo",
                "valid_until": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
            },
        )
        assert requested.status_code == 201, requested.text
        # the default grant: the fields that are not personal data, by either Confluent spelling
        assert requested.json()["requested_fields"] == ["change_id", "province_code"]
        agreement = requested.json()["id"]
        approved = http.post(f"/v1/agreements/{agreement}/approve", headers=admin, json={})
        assert approved.status_code == 200, approved.text
        subscribed = http.post(
            "/v1/subscriptions",
            headers=reader,
            json={"agreement": agreement, "name": "stats", "start": "earliest"},
        )
        assert subscribed.status_code == 201, subscribed.text
        delivered = pull_all(http, reader, subscribed.json()["id"], 3)
    assert [r["value"] for r in delivered] == [
        {"change_id": f"v{i}", "province_code": f"v{i}"} for i in range(3)
    ]


def pull_all(
    http: httpx.Client, headers: dict[str, str], subscription: str, count: int
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    while len(found) < count:
        assert time.monotonic() < deadline, f"only {len(found)} of {count} records came"
        batch = http.get(
            f"/v1/subscriptions/{subscription}/events", params={"wait": 2}, headers=headers
        )
        assert batch.status_code == 200, batch.text
        found += batch.json()["records"]
        acked = http.post(
            f"/v1/subscriptions/{subscription}/ack",
            json={"cursor": batch.json()["cursor"]},
            headers=headers,
        )
        assert acked.status_code == 200, acked.text
    return found
