"""Small publishes and tokens on a hub started as an operator starts it (``ndxp up``: tokens
required, SQLite): each 201 already has its ``publish`` audit record, offsets and all (the record
is written while Kafka commits, and the answer waits for both), and each token issued has its
``token.issue`` record when the token arrives."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.core.auth.verify import decode_segment
from tests.fixtures.hub import Hub

BATCHES = 5


@pytest.fixture
def hub(shared_hub: Hub) -> Hub:
    return shared_hub


def create_dataset(http: httpx.Client, admin: dict[str, str]) -> str:
    contract = {
        "type": "record",
        "name": "Reading",
        "namespace": "vn.gov.demo",
        "doc": "A station reading.",
        "fields": [
            {"name": "station", "type": "string", "doc": "Station code."},
            {"name": "pm25", "type": "double", "doc": "PM2.5 in µg/m³."},
        ],
    }
    body = {
        "name": f"readings-{uuid.uuid4().hex[:8]}",
        "title": "Readings",
        "description": "Station readings.",
        "access_rights": "PUBLIC",
        "contact_point": {"name": "Demo agency", "email": "demo@example.gov.vn"},
        "partitions": 2,
        "schema": json.dumps(contract),
    }
    created = http.post("/v1/datasets", json=body, headers=admin)
    assert created.status_code == 201, created.text
    dataset: str = created.json()["id"]
    return dataset


def records_of(http: httpx.Client, admin: dict[str, str], **params: str) -> list[dict[str, Any]]:
    answer = http.get("/v1/audit", params={"limit": "1000", **params}, headers=admin)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def spans(offsets: list[dict[str, int]]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for placed in offsets:
        first_last = found.setdefault(str(placed["partition"]), [placed["offset"]] * 2)
        first_last[0] = min(first_last[0], placed["offset"])
        first_last[1] = max(first_last[1], placed["offset"])
    return found


def test_every_small_publish_is_on_the_record_when_its_201_arrives(hub: Hub) -> None:
    admin = hub.headers()
    with httpx.Client(base_url=hub.gateway, timeout=30) as http:
        dataset = create_dataset(http, admin)
        for batch in range(BATCHES):
            records = [{"station": f"HN-{batch}-{i}", "pm25": float(i)} for i in range(10)]
            published = http.post(f"/v1/datasets/{dataset}/events", json=records, headers=admin)
            assert published.status_code == 201, published.text
            # asked at once, with nothing between: the record is there, with these offsets
            trail = records_of(http, admin, dataset=dataset, action="publish")
            assert len(trail) == batch + 1
            assert trail[-1]["record_count"] == 10
            assert trail[-1]["offsets"] == spans(published.json()["offsets"])
        assert records_of(http, admin, dataset=dataset, action="publish.abort") == []


def test_a_token_is_on_the_record_when_it_arrives(hub: Hub) -> None:
    client = hub.demo_client()
    asked_at = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()  # the page holds it
    with httpx.Client(base_url=hub.gateway, timeout=30) as http:
        answer = http.post(
            "/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(client["client_id"], client["client_secret"]),
        )
        assert answer.status_code == 200, answer.text
        token = answer.json()["access_token"]
        jti = decode_segment(token.split(".")[1])["jti"]
        headers = {"Authorization": f"Bearer {token}"}
        issued = records_of(http, headers, action="token.issue", since=asked_at)
        assert jti in {item["details"]["jti"] for item in issued}
