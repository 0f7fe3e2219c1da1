"""Schemas and requests shared by the registry's HTTP tests."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from tests.fixtures.registry import V1


def unique(prefix: str = "Rec") -> str:
    """An Avro name no other test uses, so that its schema gets an id of its own."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def field(name: str, type_: Any = "string", **extra: Any) -> dict[str, Any]:
    """A documented field (``doc=None`` leaves the doc out)."""
    doc = extra.pop("doc", f"The {name}.")
    found: dict[str, Any] = {"name": name, "type": type_}
    if doc is not None:
        found["doc"] = doc
    return found | extra


def record(
    name: str, *fields: dict[str, Any], namespace: str | None = None, doc: str | None = "A record."
) -> dict[str, Any]:
    """A record schema that passes the contract linter unless told otherwise."""
    found: dict[str, Any] = {"type": "record", "name": name}
    if namespace is not None:
        found["namespace"] = namespace
    if doc is not None:
        found["doc"] = doc
    found["fields"] = list(fields) or [field("code")]
    return found


def compact(schema: Any) -> str:
    """How the registry stores and returns a schema: compact JSON, keys as given."""
    return json.dumps(schema, separators=(",", ":"))


def register(
    c: httpx.Client, subject: str, schema: Any, *, params: dict[str, Any] | None = None, **body: Any
) -> httpx.Response:
    text = schema if isinstance(schema, str) else json.dumps(schema)
    return c.post(f"/subjects/{subject}/versions", json={"schema": text, **body}, params=params)


def register_ok(c: httpx.Client, subject: str, schema: Any, **body: Any) -> dict[str, Any]:
    resp = register(c, subject, schema, **body)
    assert resp.status_code == 200, resp.text
    found: dict[str, Any] = resp.json()
    return found


def error(resp: httpx.Response, status: int, error_code: int) -> str:
    """Assert a Confluent error reply; return its message."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == V1
    body = resp.json()
    assert body["error_code"] == error_code, body
    assert isinstance(body["message"], str)
    assert body["message"]
    message: str = body["message"]
    return message


def subjects(c: httpx.Client, **params: Any) -> list[str]:
    resp = c.get("/subjects", params=params)
    assert resp.status_code == 200, resp.text
    found: list[str] = resp.json()
    return found


def versions(c: httpx.Client, subject: str, **params: Any) -> list[int]:
    resp = c.get(f"/subjects/{subject}/versions", params=params)
    assert resp.status_code == 200, resp.text
    found: list[int] = resp.json()
    return found


def assert_no_subject(c: httpx.Client, subject: str) -> None:
    """Nothing was stored for ``subject``, not even a soft-deleted version."""
    assert subject not in subjects(c, deleted="true")
    error(c.get(f"/subjects/{subject}/versions", params={"deleted": "true"}), 404, 40401)


def diamond(c: httpx.Client, subject: str) -> str:
    """Order (``subject``) → Price → Money and Order → Cost → Money, each in a subject of its
    own; Money's owner is personal data. Returns Money's subject."""
    ns = f"dp.n{uuid.uuid4().hex[:10]}"
    money = record("Money", field("amount", "long"), field("owner", pii="basic"), namespace=ns)
    register_ok(c, f"{subject}-money", money)
    money_ref = {"name": f"{ns}.Money", "subject": f"{subject}-money", "version": 1}
    for name in ("Price", "Cost"):
        schema = record(name, field("value", "Money"), namespace=ns)
        register_ok(c, f"{subject}-{name.lower()}", schema, references=[money_ref])
    refs = [
        {"name": f"{ns}.{name}", "subject": f"{subject}-{name.lower()}", "version": 1}
        for name in ("Price", "Cost")
    ]
    order = record("Order", field("price", "Price"), field("cost", "Cost"), namespace=ns)
    register_ok(c, subject, order, references=refs)
    return f"{subject}-money"
