"""``/v1/agreements`` over HTTP against a real gateway and a real, token-requiring registry: the
request, decision and revocation of data-sharing agreements, their expiry, their audit records,
the reader schemas they register and what they open in the catalogue."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from services.core.db.models import AGREEMENT_STATES, Agreement
from tests.fixtures.catalog import Caller, Hub
from tests.integration.gateway.catalog_data import contract, dataset_body, problem

PROVIDER = ("publish", "registry:write", "catalog:read", "agreements:manage")
CONSUMER = ("subscribe", "catalog:read")
FIELDS = (
    {"name": "province_code", "type": "string", "doc": "Province of the new residence."},
    {"name": "citizen_id", "type": "string", "doc": "Citizen identity number.", "pii": "sensitive"},
    {"name": "note", "type": ["null", "string"], "default": None, "doc": "A note."},
)


def ahead(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


@pytest.fixture
async def provider(hub: Hub) -> Caller:
    return await hub.caller(*PROVIDER)


@pytest.fixture
async def consumer(hub: Hub) -> Caller:
    return await hub.caller(*CONSUMER)


@pytest.fixture
async def outsider(hub: Hub) -> Caller:
    return await hub.caller("subscribe", "agreements:manage", "catalog:read")


async def create_dataset(hub: Hub, owner: Caller, access: str = "PUBLIC") -> str:
    body = dataset_body(owner.agency, access_rights=access, schema=contract(owner.agency, *FIELDS))
    async with hub.http(owner) as http:
        created = await http.post("/v1/datasets", json=body)
    assert created.status_code == 201, created.text
    dataset: str = created.json()["id"]
    return dataset


@pytest.fixture
async def dataset(hub: Hub, provider: Caller) -> str:
    return await create_dataset(hub, provider)


async def call(
    hub: Hub, caller: Caller, method: str, path: str, body: Any = None
) -> httpx.Response:
    async with hub.http(caller) as http:
        if body is None:
            return await http.request(method, path)
        return await http.request(method, path, json=body)


async def act(
    hub: Hub, caller: Caller, agreement: dict[str, Any], action: str, body: Any = None
) -> httpx.Response:
    """POST ``/v1/agreements/{id}/{action}``."""
    return await call(hub, caller, "POST", f"/v1/agreements/{agreement['id']}/{action}", body)


async def request(hub: Hub, consumer: Caller, dataset: str, **extra: Any) -> dict[str, Any]:
    body = {
        "dataset": dataset,
        "purpose": "Cập nhật cơ sở dữ liệu thuế theo nơi cư trú",
        "legal_basis": "Nghị định 47/2024/NĐ-CP, Điều 12",
        "valid_until": ahead(days=365),
        **extra,
    }
    answer = await call(hub, consumer, "POST", "/v1/agreements", body)
    assert answer.status_code == 201, answer.text
    assert answer.headers["location"] == f"/v1/agreements/{answer.json()['id']}"
    document: dict[str, Any] = answer.json()
    return document


async def approve(hub: Hub, provider: Caller, agreement: str, **body: Any) -> dict[str, Any]:
    answer = await call(hub, provider, "POST", f"/v1/agreements/{agreement}/approve", body or None)
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


async def audited(hub: Hub, admin: Caller, agreement: str) -> list[dict[str, Any]]:
    answer = await call(hub, admin, "GET", f"/v1/audit?agreement={agreement}&limit=1000")
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


# --- requesting ----------------------------------------------------------------------------------


async def test_request_asks_for_the_non_personal_fields_by_default(
    hub: Hub, provider: Caller, consumer: Caller, dataset: str, ops: Caller
) -> None:
    doc = await request(hub, consumer, dataset)
    assert doc["state"] == "requested"
    assert (doc["dataset"], doc["provider"], doc["consumer"]) == (
        dataset,
        provider.agency,
        consumer.agency,
    )
    assert doc["requested_fields"] == ["change_id", "province_code", "note"]
    assert doc["granted_fields"] is None and doc["reader_schema"] is None
    assert doc["requested_by"] == consumer.client_id
    for caller in (consumer, provider, ops):
        seen = await call(hub, caller, "GET", f"/v1/agreements/{doc['id']}")
        assert seen.status_code == 200, seen.text
        assert seen.json() == doc
    [event] = await audited(hub, ops, doc["id"])
    assert event["action"] == "agreement.request"
    assert (event["actor_agency"], event["actor_client"]) == (consumer.agency, consumer.client_id)
    assert (event["provider_agency"], event["consumer_agency"], event["dataset_id"]) == (
        provider.agency,
        consumer.agency,
        dataset,
    )
    assert event["details"]["requested_fields"] == doc["requested_fields"]


async def test_request_may_name_personal_data(hub: Hub, consumer: Caller, dataset: str) -> None:
    doc = await request(hub, consumer, dataset, requested_fields=["change_id", "full_name"])
    assert doc["requested_fields"] == ["change_id", "full_name"]


async def test_bad_requests(
    hub: Hub, provider: Caller, consumer: Caller, dataset: str, outsider: Caller
) -> None:
    base = {"dataset": dataset, "purpose": "p", "legal_basis": "l", "valid_until": ahead(days=30)}

    async def post(caller: Caller, **change: Any) -> httpx.Response:
        return await call(hub, caller, "POST", "/v1/agreements", base | change)

    answer = await post(consumer, requested_fields=["change_id", "nope", "x.y"])
    unknown = problem(answer, 422, "unknown_fields")
    assert {e["path"] for e in unknown["errors"]} == {"nope", "x"}
    problem(await post(consumer, requested_fields=[]), 422, "invalid_request")
    problem(await post(consumer, requested_fields=["bad path"]), 422, "invalid_request")
    problem(await post(consumer, valid_until=ahead(seconds=-5)), 422, "invalid_valid_until")
    problem(await post(consumer, valid_until=ahead(days=6 * 365)), 422, "invalid_valid_until")
    problem(await post(consumer, valid_until="2030-01-01T00:00:00"), 422, "invalid_request")
    problem(await post(consumer, valid_until="someday"), 422, "invalid_request")
    problem(await post(consumer, dataset=f"{provider.agency}.nothing"), 404, "dataset_not_found")
    problem(await post(consumer, extra="field"), 422, "invalid_request")
    problem(await post(provider), 422, "self_agreement")
    reader = await hub.caller("catalog:read")
    problem(await post(reader), 403, "insufficient_scope")
    # agreements:manage alone may request too; a bare date runs through that day (UTC)
    day = (datetime.now(UTC) + timedelta(days=10)).date()
    answer = await post(outsider, valid_until=day.isoformat())
    assert answer.status_code == 201, answer.text
    end = datetime.fromisoformat(answer.json()["valid_until"])
    assert end == datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)


# --- deciding ------------------------------------------------------------------------------------


async def test_approval_narrows_and_registers_the_reader_schema(
    hub: Hub, provider: Caller, consumer: Caller, dataset: str, ops: Caller
) -> None:
    requested = ["change_id", "province_code", "full_name", "citizen_id"]
    asked = await request(hub, consumer, dataset, requested_fields=requested)
    agreement = asked["id"]
    path = f"/v1/agreements/{agreement}/approve"

    wider = await call(hub, provider, "POST", path, {"fields": ["change_id", "note"]})
    assert problem(wider, 422, "fields_not_requested")["errors"] == [
        {"path": "note", "reason": "not requested"}
    ]
    later = datetime.fromisoformat(asked["valid_until"]) + timedelta(days=1)
    longer = await call(hub, provider, "POST", path, {"valid_until": later.isoformat()})
    problem(longer, 422, "invalid_valid_until")

    shorter = (datetime.now(UTC) + timedelta(days=90)).replace(microsecond=0)
    doc = await approve(
        hub, provider, agreement, fields=["change_id", "full_name"], valid_until=shorter.isoformat()
    )
    assert doc["state"] == "active"
    assert doc["granted_fields"] == ["change_id", "full_name"]
    assert datetime.fromisoformat(doc["valid_until"]) == shorter
    assert doc["decided_by"] == provider.client_id and doc["decided_at"]
    reader = doc["reader_schema"]
    assert reader["subject"] == f"ndxp.agreements.{agreement}-value"

    async with hub.registry(consumer) as registry:
        latest = (await registry.get(f"/subjects/{reader['subject']}/versions/latest")).json()
        by_id = (await registry.get(f"/schemas/ids/{reader['id']}")).json()
    assert latest["id"] == reader["id"]
    schema = json.loads(by_id["schema"])
    assert [f["name"] for f in schema["fields"]] == ["change_id", "full_name"]  # named PII only
    assert schema["name"] == "Change" and schema["namespace"] == f"vn.gov.{provider.agency}"

    events = await audited(hub, ops, agreement)
    assert [e["action"] for e in events] == ["agreement.request", "agreement.approve"]
    assert events[1]["actor_client"] == provider.client_id
    assert events[1]["details"]["reader_schema_id"] == reader["id"]


async def test_default_approval_grants_what_was_requested(
    hub: Hub, provider: Caller, consumer: Caller, dataset: str
) -> None:
    asked = await request(hub, consumer, dataset)
    doc = await approve(hub, provider, asked["id"])
    assert doc["granted_fields"] == asked["requested_fields"]
    assert doc["valid_until"] == asked["valid_until"]
    async with hub.registry(consumer) as registry:
        by_id = (await registry.get(f"/schemas/ids/{doc['reader_schema']['id']}")).json()
    names = [f["name"] for f in json.loads(by_id["schema"])["fields"]]
    assert names == ["change_id", "province_code", "note"]  # no full_name, no citizen_id


async def test_approving_needs_registry_write(
    hub: Hub, provider: Caller, consumer: Caller, dataset: str
) -> None:
    steward = await hub.caller("agreements:manage", agency=provider.agency)
    asked = await request(hub, consumer, dataset)
    answer = await call(hub, steward, "POST", f"/v1/agreements/{asked['id']}/approve")
    problem(answer, 403, "insufficient_scope")
    seen = await call(hub, provider, "GET", f"/v1/agreements/{asked['id']}")
    assert seen.json()["state"] == "requested"


async def test_only_the_provider_decides_and_strangers_see_nothing(
    hub: Hub, provider: Caller, consumer: Caller, dataset: str, outsider: Caller
) -> None:
    asked = await request(hub, consumer, dataset)
    base = f"/v1/agreements/{asked['id']}"
    consumer_manager = await hub.caller(*PROVIDER, agency=consumer.agency)
    for caller in (consumer, consumer_manager):
        problem(await call(hub, caller, "POST", f"{base}/approve"), 403, "forbidden")
        problem(await act(hub, caller, asked, "reject", {"reason": "x"}), 403, "forbidden")
    problem(await call(hub, outsider, "GET", base), 404, "agreement_not_found")
    for action, body in (
        ("approve", None),
        ("reject", {"reason": "x"}),
        ("revoke", {"reason": "x"}),
    ):
        answer = await call(hub, outsider, "POST", f"{base}/{action}", body)
        problem(answer, 404, "agreement_not_found")
    listed = await call(hub, outsider, "GET", "/v1/agreements")
    assert asked["id"] not in {a["id"] for a in listed.json()["items"]}
    publisher_only = await hub.caller("publish", agency=provider.agency)
    problem(await call(hub, publisher_only, "GET", base), 403, "insufficient_scope")
    seen = await call(hub, provider, "GET", base)
    assert seen.json()["state"] == "requested"


async def test_reject_and_invalid_transitions(
    hub: Hub, provider: Caller, consumer: Caller, dataset: str, ops: Caller
) -> None:
    asked = await request(hub, consumer, dataset)
    base = f"/v1/agreements/{asked['id']}"
    problem(await call(hub, provider, "POST", f"{base}/reject", {}), 422, "invalid_request")
    problem(await act(hub, provider, asked, "revoke", {"reason": "x"}), 409, "invalid_transition")
    rejected = await call(hub, provider, "POST", f"{base}/reject", {"reason": "No legal basis"})
    assert rejected.status_code == 200, rejected.text
    doc = rejected.json()
    assert (doc["state"], doc["reason"], doc["decided_by"]) == (
        "rejected",
        "No legal basis",
        provider.client_id,
    )
    for action, body in (
        ("approve", None),
        ("reject", {"reason": "x"}),
        ("revoke", {"reason": "x"}),
    ):
        answer = await call(hub, provider, "POST", f"{base}/{action}", body)
        problem(answer, 409, "invalid_transition")
    actions = [e["action"] for e in await audited(hub, ops, asked["id"])]
    assert actions == ["agreement.request", "agreement.reject"]


async def test_revoke_by_provider_or_consumer(
    hub: Hub, provider: Caller, consumer: Caller, dataset: str, ops: Caller
) -> None:
    first = await approve(hub, provider, (await request(hub, consumer, dataset))["id"])
    second = await approve(hub, provider, (await request(hub, consumer, dataset))["id"])

    by_provider = await act(hub, provider, first, "revoke", {"reason": "Purpose fulfilled"})
    assert by_provider.status_code == 200, by_provider.text
    assert by_provider.json()["state"] == "revoked" and by_provider.json()["revoked_at"]
    by_consumer = await act(hub, consumer, second, "revoke", {"reason": "No longer needed"})
    assert by_consumer.status_code == 200, by_consumer.text
    assert by_consumer.json()["reason"] == "No longer needed"

    for agreement in (first, second):
        for action, body in (("revoke", {"reason": "again"}), ("approve", None)):
            answer = await act(hub, provider, agreement, action, body)
            problem(answer, 409, "invalid_transition")
    events = await audited(hub, ops, second["id"])
    assert [e["action"] for e in events][-1] == "agreement.revoke"
    assert events[-1]["details"] == {"reason": "No longer needed", "by": "consumer"}
    assert events[-1]["actor_agency"] == consumer.agency


async def test_concurrent_decisions_have_one_winner(
    hub: Hub, provider: Caller, consumer: Caller, dataset: str, ops: Caller
) -> None:
    asked = await request(hub, consumer, dataset)
    base = f"/v1/agreements/{asked['id']}"
    answers = await asyncio.gather(
        *(call(hub, provider, "POST", f"{base}/approve") for _ in range(3)),
        *(call(hub, provider, "POST", f"{base}/reject", {"reason": "no"}) for _ in range(3)),
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 409, 409, 409, 409, 409], [a.text for a in answers]
    decisions = [e["action"] for e in await audited(hub, ops, asked["id"])][1:]
    assert len(decisions) == 1


# --- reading -------------------------------------------------------------------------------------


async def test_listing_filters(
    hub: Hub, provider: Caller, consumer: Caller, dataset: str, ops: Caller
) -> None:
    other = await create_dataset(hub, provider)
    a = await approve(hub, provider, (await request(hub, consumer, dataset))["id"])
    b = await request(hub, consumer, other)

    async def ids(caller: Caller, **params: str) -> list[str]:
        async with hub.http(caller) as http:
            answer = await http.get("/v1/agreements", params=params)
        assert answer.status_code == 200, answer.text
        return [item["id"] for item in answer.json()["items"]]

    assert await ids(consumer) == [b["id"], a["id"]]  # newest first
    assert await ids(consumer, role="consumer") == [b["id"], a["id"]]
    assert await ids(consumer, role="provider") == []
    assert await ids(provider, role="provider") == [b["id"], a["id"]]
    assert await ids(provider, state="active") == [a["id"]]
    assert await ids(provider, state="requested") == [b["id"]]
    assert await ids(provider, dataset=other) == [b["id"]]
    assert {a["id"], b["id"]} <= set(await ids(ops, page_size="200"))
    assert await ids(ops, role="consumer") == []
    answer = await call(hub, consumer, "GET", "/v1/agreements?state=pending")
    problem(answer, 422, "invalid_request")


# --- time ----------------------------------------------------------------------------------------


async def test_agreements_expire_at_their_end(
    hub: Hub, provider: Caller, consumer: Caller, dataset: str, ops: Caller
) -> None:
    active = await request(hub, consumer, dataset, valid_until=ahead(seconds=3))
    undecided = await request(hub, consumer, dataset, valid_until=ahead(seconds=3))
    await approve(hub, provider, active["id"])
    end = max(datetime.fromisoformat(a["valid_until"]) for a in (active, undecided))
    await asyncio.sleep(max(0.0, (end - datetime.now(UTC)).total_seconds()) + 0.2)

    for agreement in (active, undecided):
        seen = await call(hub, consumer, "GET", f"/v1/agreements/{agreement['id']}")
        assert seen.json()["state"] == "expired"
    problem(await act(hub, provider, undecided, "approve"), 409, "invalid_transition")
    late = await act(hub, provider, active, "revoke", {"reason": "late"})
    problem(late, 409, "invalid_transition")

    async with hub.gateway.session() as session:  # written down, by the read's sweep at least
        stored = await session.scalars(
            select(Agreement.state).where(Agreement.id.in_([active["id"], undecided["id"]]))
        )
        assert list(stored) == ["expired", "expired"]
    await asyncio.sleep(0.5)  # and audited once, however many sweeps ran
    for agreement, before in ((active, "active"), (undecided, "requested")):
        trail = await audited(hub, ops, agreement["id"])
        events = [e for e in trail if e["action"] == "agreement.expire"]
        assert len(events) == 1
        assert events[0]["actor_agency"] is None
        assert events[0]["details"]["from"] == before


async def test_the_periodic_sweep_expires_without_reads(
    hub: Hub, provider: Caller, consumer: Caller, dataset: str, ops: Caller
) -> None:
    agreement = await request(hub, consumer, dataset, valid_until=ahead(seconds=1))
    deadline = time.monotonic() + 15
    while True:
        async with hub.gateway.session() as session:
            state = await session.scalar(
                select(Agreement.state).where(Agreement.id == agreement["id"])
            )
        if state == "expired":
            break
        assert time.monotonic() < deadline, "the sweep never expired the agreement"
        await asyncio.sleep(0.5)
    actions = [e["action"] for e in await audited(hub, ops, agreement["id"])]
    assert actions == ["agreement.request", "agreement.expire"]


# --- the catalogue -------------------------------------------------------------------------------


async def test_non_public_dataset_shows_while_the_agreement_is_active(
    hub: Hub, provider: Caller, consumer: Caller
) -> None:
    hidden = await create_dataset(hub, provider, "NON_PUBLIC")

    async def listed() -> bool:
        found = await call(hub, consumer, "GET", f"/v1/catalog?agency={provider.agency}")
        entry = await call(hub, consumer, "GET", f"/v1/catalog/{hidden}")
        in_search = hidden in {d["id"] for d in found.json()["items"]}
        assert in_search == (entry.status_code == 200), entry.text
        return in_search

    assert not await listed()
    asked = await request(hub, consumer, hidden)  # by its exact id
    assert not await listed()
    await approve(hub, provider, asked["id"])
    assert await listed()
    revoked = await act(hub, provider, asked, "revoke", {"reason": "Review"})
    assert revoked.status_code == 200
    assert not await listed()

    short = await request(hub, consumer, hidden, valid_until=ahead(seconds=2))
    await approve(hub, provider, short["id"])
    assert await listed()
    await asyncio.sleep(2.2)
    assert not await listed()  # time alone ends it, before any sweep


# --- metrics -------------------------------------------------------------------------------------


async def gauge(hub: Hub) -> dict[str, float]:
    text = await hub.gateway.scrape()
    values = {}
    for line in text.splitlines():
        if line.startswith("ndxp_agreements{"):
            state = line.split('state="', 1)[1].split('"', 1)[0]
            values[state] = float(line.rsplit(" ", 1)[1])
    return values


async def stored_counts(hub: Hub) -> dict[str, float]:
    async with hub.gateway.session() as session:
        rows = await session.execute(
            select(Agreement.state, func.count()).group_by(Agreement.state)
        )
        return dict.fromkeys(AGREEMENT_STATES, 0.0) | {s: float(n) for s, n in rows}


async def test_gauge_counts_agreements_by_state(
    hub: Hub, provider: Caller, consumer: Caller, dataset: str
) -> None:
    before = await gauge(hub)
    asked = await request(hub, consumer, dataset)
    after_request = await gauge(hub)
    assert after_request == await stored_counts(hub)
    assert after_request["requested"] == before.get("requested", 0) + 1
    await approve(hub, provider, asked["id"])
    after_approval = await gauge(hub)
    assert after_approval == await stored_counts(hub)

    # The session's hub is shared: its sweeper may expire another test's agreement meanwhile, so
    # the approval shows as one more active-or-expired, and nothing is lost or made.
    def settled(counts: dict[str, float]) -> float:
        return counts.get("active", 0) + counts.get("expired", 0)

    assert settled(after_approval) >= settled(after_request) + 1
    assert sum(after_approval.values()) == sum(after_request.values())
