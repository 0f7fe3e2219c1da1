"""On a hub as ``ndxp up`` runs it (tokens required, SQLite): a schema registered with its keys
in a hand-written order is found and re-registered when sent in Avro's key order, as Confluent's
Java clients send it."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from tests.fixtures.hub import Hub
from tests.fixtures.registry import V1

FIELD_DOC = "The notice's code."


def notice(*, avro_order: bool) -> dict[str, Any]:
    if avro_order:  # what Avro's Schema.toString() writes
        fields = [{"name": "code", "type": "string", "doc": FIELD_DOC}]
        return {
            "type": "record",
            "name": "Notice",
            "namespace": "vn.gov.demo",
            "doc": "A notice.",
            "fields": fields,
        }
    fields = [{"type": "string", "doc": FIELD_DOC, "name": "code"}]
    return {
        "namespace": "vn.gov.demo",
        "doc": "A notice.",
        "name": "Notice",
        "type": "record",
        "fields": fields,
    }


def test_key_order_does_not_make_another_schema(shared_hub: Hub) -> None:
    subject = f"key-order-{uuid.uuid4().hex[:10]}-value"
    headers = {"Content-Type": V1, "Accept": V1} | shared_hub.headers()
    with httpx.Client(base_url=shared_hub.url("registry"), headers=headers, timeout=30) as c:
        hand = {"schema": json.dumps(notice(avro_order=False))}
        java = {"schema": json.dumps(notice(avro_order=True))}
        registered = c.post(f"/subjects/{subject}/versions", json=hand)
        assert registered.status_code == 200, registered.text

        found = c.post(f"/subjects/{subject}", json=java)
        again = c.post(f"/subjects/{subject}/versions", json=java)
        listed = c.get(f"/subjects/{subject}/versions")

    assert found.status_code == 200, found.text
    assert found.json()["id"] == registered.json()["id"]
    assert found.json()["version"] == 1
    assert again.status_code == 200, again.text
    assert again.json()["id"] == registered.json()["id"]
    assert listed.json() == [1]
