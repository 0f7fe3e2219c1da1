"""Contracts, dataset bodies and Kafka checks shared by the catalogue tests."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx

from services.core.config import KafkaSettings
from services.core.errors import NotFound
from services.core.kafka.admin import TopicDescription, describe_topic

DAY_MS = 86_400_000


def unique(prefix: str = "d") -> str:
    """A dataset name no other test uses."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def contract(agency: str, *extra: dict[str, Any], name: str = "Change") -> dict[str, Any]:
    """A lint-clean contract of ``agency`` with a PII-tagged field."""
    return {
        "type": "record",
        "name": name,
        "namespace": f"vn.gov.{agency}",
        "doc": "One change of a citizen's residence.",
        "fields": [
            {"name": "change_id", "type": "string", "doc": "Identifier of the change."},
            {"name": "full_name", "type": "string", "doc": "The citizen's name.", "pii": "basic"},
            *extra,
        ],
    }


def optional_field(name: str = "note") -> dict[str, Any]:
    return {"name": name, "type": ["null", "string"], "default": None, "doc": "A note."}


def required_field(name: str = "ward_code") -> dict[str, Any]:
    return {"name": name, "type": "string", "doc": "A field without a default."}


def dataset_body(agency: str, name: str | None = None, /, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name or unique(),
        "title": "Residence changes",
        "description": "Thay đổi nơi thường trú và tạm trú của công dân.",
        "theme": "population",
        "keywords": ["cư trú", "residence"],
        "access_rights": "PUBLIC",
        "licence": "CC-BY-4.0",
        "contact_point": {"name": "Data desk", "email": "data@example.gov.vn"},
        "update_frequency": "continuous",
        "retention": "P30D",
        "partitions": 4,
        "compatibility": "FULL_TRANSITIVE",
        "schema": contract(agency),
    }
    return body | overrides


def kafka(bootstrap: str) -> KafkaSettings:
    return KafkaSettings(bootstrap=bootstrap)


async def topic(bootstrap: str, name: str) -> TopicDescription | None:
    """The topic as the cluster describes it, or None if there is none."""
    try:
        return await describe_topic(kafka(bootstrap), name)
    except NotFound:
        return None


async def wait_topic_gone(bootstrap: str, name: str, within: float = 15.0) -> None:
    """Topic deletion completes asynchronously on the brokers: wait for it, a bounded time."""
    deadline = time.monotonic() + within
    while await topic(bootstrap, name) is not None:
        assert time.monotonic() < deadline, f"topic {name} still exists"
        await asyncio.sleep(0.2)


async def subject_absent(registry: httpx.AsyncClient, subject: str) -> bool:
    """Nothing at all stored for ``subject``: no version (not even soft-deleted), no config."""
    versions = await registry.get(f"/subjects/{subject}/versions", params={"deleted": "true"})
    config = await registry.get(f"/config/{subject}")
    return versions.status_code == 404 and config.status_code == 404


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Assert a problem+json answer with ``status`` and ``code``; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body
