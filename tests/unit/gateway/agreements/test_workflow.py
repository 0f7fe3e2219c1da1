"""Agreements over a fresh SQLite control plane and an in-process fake registry: the state rules,
expiry with a given ``now``, the one delivery check, the audit-or-undo rule. No network."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.audit import AuditLog
from services.core.auth.principal import Principal
from services.core.avro.registry_client import RegistryClient
from services.core.config import KafkaSettings
from services.core.db.engine import create_engine, session_factory
from services.core.db.migrate import migrate
from services.core.db.models import AGREEMENT_STATES, Agency, Agreement, AuditRecord, Dataset
from services.core.errors import Unavailable
from services.core.sharing.agreements import (
    AgreementInactive,
    active_agreement,
    count_agreements,
    effective_state,
    expire_due,
    granted_dataset_ids,
    state_clause,
)
from services.core.sharing.metrics import AGREEMENTS
from services.core.subjects import owner_of
from services.gateway.agreements import workflow as agreements
from services.gateway.agreements.expiry import sweep
from services.gateway.agreements.terms import (
    MAX_TERM,
    AgreementIn,
    Approval,
    Decision,
    FieldsNotRequested,
    InvalidTerm,
    InvalidTransition,
    check_term,
    narrowed,
    reader_subject,
    shortened,
)
from services.gateway.backends import Backends

Sessions = async_sessionmaker[AsyncSession]
NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
WRITER = {
    "type": "record",
    "name": "Change",
    "namespace": "vn.gov.mps",
    "fields": [
        {"name": "change_id", "type": "string"},
        {"name": "full_name", "type": "string", "pii": "basic"},
        {"name": "province_code", "type": "string"},
    ],
}


def principal(agency: str, *scopes: str) -> Principal:
    return Principal(agency, f"{agency}-tool", frozenset(scopes), "test")


PROVIDER = principal("mps", "agreements:manage", "registry:write")
CONSUMER = principal("mof", "subscribe")


# --- pure rules ----------------------------------------------------------------------------------


def agreement(state: str, valid_until: datetime, **extra: Any) -> Agreement:
    return Agreement(id="a", state=state, valid_until=valid_until, **extra)


@pytest.mark.parametrize(
    ("state", "ahead", "seen"),
    [
        ("requested", True, "requested"),
        ("requested", False, "expired"),
        ("active", True, "active"),
        ("active", False, "expired"),
        ("rejected", False, "rejected"),
        ("revoked", False, "revoked"),
        ("expired", True, "expired"),
    ],
)
def test_time_ends_requested_and_active_agreements(state: str, ahead: bool, seen: str) -> None:
    end = NOW + timedelta(seconds=1) if ahead else NOW
    assert effective_state(agreement(state, end), NOW) == seen


def test_end_dates() -> None:
    assert check_term(NOW + timedelta(hours=1), NOW) == NOW + timedelta(hours=1)
    assert check_term(NOW + MAX_TERM, NOW) == NOW + MAX_TERM
    for bad in (NOW, NOW - timedelta(days=1), NOW + MAX_TERM + timedelta(seconds=1)):
        with pytest.raises(InvalidTerm):
            check_term(bad, NOW)
    later = NOW + timedelta(days=30)
    assert shortened(later, None, NOW) == later
    assert shortened(later, NOW + timedelta(days=1), NOW) == NOW + timedelta(days=1)
    with pytest.raises(InvalidTerm):
        shortened(later, later + timedelta(seconds=1), NOW)
    with pytest.raises(InvalidTerm):
        shortened(later, NOW - timedelta(seconds=1), NOW)


def test_request_body() -> None:
    base = {"dataset": "mps.changes", "purpose": "p", "legal_basis": "l"}
    body = AgreementIn.model_validate(
        base | {"valid_until": "2027-03-31", "requested_fields": [" a ", "b.c", "a"]}
    )
    assert body.valid_until == datetime(2027, 4, 1, tzinfo=UTC)  # through the 31st, UTC
    assert body.requested_fields == ["a", "b.c"]
    offset = AgreementIn.model_validate(base | {"valid_until": "2027-03-31T17:00:00+07:00"})
    assert offset.valid_until.astimezone(UTC) == datetime(2027, 3, 31, 10, tzinfo=UTC)
    for bad in (
        {"valid_until": "2027-03-31T17:00:00"},  # no offset
        {"valid_until": "2027-02-30"},
        {"valid_until": "2027-03-31", "requested_fields": []},
        {"valid_until": "2027-03-31", "requested_fields": ["a..b"]},
        {"valid_until": "2027-03-31", "purpose": ""},
    ):
        with pytest.raises(ValidationError):
            AgreementIn.model_validate(base | bad)


def test_approval_only_narrows() -> None:
    assert narrowed(["a", "b"], None) == ["a", "b"]
    assert narrowed(["a", "b"], ["b"]) == ["b"]
    with pytest.raises(FieldsNotRequested) as raised:
        narrowed(["a", "b"], ["b", "a.x", "c"])
    assert [e["path"] for e in raised.value.errors] == ["a.x", "c"]


def test_reader_subjects_are_never_dataset_subjects() -> None:
    agreement_id = str(uuid.uuid4())
    assert reader_subject(agreement_id) == f"ndxp.agreements.{agreement_id}-value"
    assert owner_of(reader_subject(agreement_id)) is None


# --- over the control plane ----------------------------------------------------------------------


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[Sessions]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'ndxp.db'}")
    await migrate(engine)
    factory = session_factory(engine)
    async with factory.begin() as session:
        session.add_all(Agency(id=a, name=a, kind="ministry") for a in ("mps", "mof", "moh"))
        session.add_all(
            Dataset(
                id=f"mps.{name}",
                agency_id="mps",
                name=name,
                title=name,
                access_rights="PUBLIC",
                retention_ms=1,
                partitions=1,
                compatibility="NONE",
            )
            for name in ("changes", "births")
        )
    try:
        yield factory
    finally:
        await engine.dispose()


async def insert(sessions: Sessions, state: str, valid_until: datetime, **extra: Any) -> Agreement:
    row = Agreement(
        id=str(uuid.uuid4()),
        dataset_id=extra.pop("dataset_id", "mps.changes"),
        provider_agency="mps",
        consumer_agency=extra.pop("consumer_agency", "mof"),
        purpose="p",
        legal_basis="l",
        requested_fields=["change_id"],
        state=state,
        valid_until=valid_until,
        requested_by="mof-tool",
        **extra,
    )
    async with sessions.begin() as session:
        session.add(row)
    return row


async def test_expire_due_moves_each_agreement_once(sessions: Sessions) -> None:
    soon = NOW + timedelta(minutes=1)
    active = await insert(sessions, "active", soon, decided_at=NOW)
    requested = await insert(sessions, "requested", soon)
    later = await insert(sessions, "active", NOW + timedelta(days=1), decided_at=NOW)
    await insert(sessions, "revoked", NOW - timedelta(days=1))
    async with sessions.begin() as session:
        assert await expire_due(session, NOW) == []
    async with sessions.begin() as session:
        moved = await expire_due(session, soon)
    assert {a.id for a in moved} == {active.id, requested.id}
    assert {a.state for a in moved} == {"expired"}
    async with sessions.begin() as session:
        assert await expire_due(session, soon + timedelta(hours=1)) == []
    async with sessions() as session:
        assert (await session.get(Agreement, later.id)).state == "active"  # type: ignore[union-attr]


async def test_state_clause_is_effective_state(sessions: Sessions) -> None:
    for state in AGREEMENT_STATES:
        for end in (NOW - timedelta(seconds=1), NOW, NOW + timedelta(seconds=1)):
            await insert(sessions, state, end)
    async with sessions() as session:
        rows = list(await session.scalars(select(Agreement)))
        for state in AGREEMENT_STATES:
            selected = set(
                await session.scalars(select(Agreement.id).where(state_clause(state, NOW)))
            )
            assert selected == {a.id for a in rows if effective_state(a, NOW) == state}, state


async def test_active_agreement_is_the_one_delivery_check(sessions: Sessions) -> None:
    end = NOW + timedelta(hours=1)
    active = await insert(sessions, "active", end)
    revoked = await insert(sessions, "revoked", end)
    async with sessions() as session:
        assert (await active_agreement(session, active.id, "mof", NOW)).id == active.id
        for agreement_id, consumer, when in (
            (active.id, "moh", NOW),  # another agency's
            (active.id, "mof", end),  # expired, not yet swept
            (revoked.id, "mof", NOW),
            ("no-such-agreement", "mof", NOW),
        ):
            with pytest.raises(AgreementInactive) as raised:
                await active_agreement(session, agreement_id, consumer, when)
            assert (raised.value.status, raised.value.code) == (403, "agreement_inactive")


async def test_granted_datasets_follow_the_same_rule(sessions: Sessions) -> None:
    end = NOW + timedelta(hours=1)
    await insert(sessions, "active", end)
    await insert(sessions, "requested", end, dataset_id="mps.births")
    await insert(sessions, "active", end, dataset_id="mps.births", consumer_agency="moh")
    async with sessions() as session:
        assert await granted_dataset_ids(session, "mof", NOW) == {"mps.changes"}
        assert await granted_dataset_ids(session, "mof", end) == frozenset()
        assert await granted_dataset_ids(session, "moh", NOW) == {"mps.births"}


async def test_count_sets_the_gauge(sessions: Sessions) -> None:
    await insert(sessions, "active", NOW)
    await insert(sessions, "active", NOW)
    await insert(sessions, "rejected", NOW)
    async with sessions() as session:
        counts = await count_agreements(session)
    assert counts == {"requested": 0, "active": 2, "rejected": 1, "revoked": 0, "expired": 0}
    for state, count in counts.items():
        assert AGREEMENTS.labels(state)._value.get() == count


# --- the workflow, with a fake registry ----------------------------------------------------------


class FakeRegistry:
    """Just enough of the Confluent API: the contract of mps.changes, registering reader schemas."""

    def __init__(self) -> None:
        self.registered: dict[str, list[str]] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "GET" and path == "/subjects/mps.changes.v1-value/versions/latest":
            schema = json.dumps(WRITER)
            return httpx.Response(200, json={"id": 1, "version": 1, "schema": schema})
        if request.method == "PUT" and path.startswith("/config/"):
            return httpx.Response(200, json={"compatibility": "NONE"})
        if request.method == "POST" and path.endswith("/versions"):
            versions = self.registered.setdefault(path.split("/")[2], [])
            versions.append(json.loads(request.content)["schema"])
            return httpx.Response(200, json={"id": 100 + len(versions), "version": len(versions)})
        return httpx.Response(404, json={"error_code": 40401, "message": "not here"})


@pytest.fixture
async def registry() -> AsyncIterator[tuple[RegistryClient, FakeRegistry]]:
    fake = FakeRegistry()
    client = RegistryClient("http://registry", transport=httpx.MockTransport(fake))
    yield client, fake
    await client.close()


@pytest.fixture
def backends(sessions: Sessions, registry: tuple[RegistryClient, FakeRegistry]) -> Backends:
    kafka = KafkaSettings(bootstrap="unused:9092")
    return Backends(sessions, registry[0], kafka, "unused:9092", None)  # type: ignore[arg-type]


@pytest.fixture
async def audit(sessions: Sessions) -> AsyncIterator[AuditLog]:
    log = AuditLog(sessions, "sqlite", None, "ndxp.audit")
    yield log
    await log.close()


async def actions(sessions: Sessions, agreement_id: str) -> list[str]:
    async with sessions() as session:
        rows = await session.scalars(
            select(AuditRecord.action)
            .where(AuditRecord.agreement_id == agreement_id)
            .order_by(AuditRecord.seq)
        )
        return list(rows)


def request_body(**extra: Any) -> AgreementIn:
    body = {"dataset": "mps.changes", "purpose": "p", "legal_basis": "l"}
    return AgreementIn.model_validate(
        body | {"valid_until": date(2026, 12, 31).isoformat()} | extra
    )


async def test_the_workflow_audits_every_change(
    backends: Backends,
    audit: AuditLog,
    sessions: Sessions,
    registry: tuple[RegistryClient, FakeRegistry],
) -> None:
    asked = await agreements.request_agreement(
        backends, audit, CONSUMER, request_body(), None, now=NOW
    )
    assert asked["requested_fields"] == ["change_id", "province_code"]  # full_name is PII
    approval = Approval(fields=["province_code"])
    with pytest.raises(AgreementInactive):
        async with sessions() as session:
            await active_agreement(session, asked["id"], "mof", NOW)
    done = await agreements.approve(
        backends, audit, PROVIDER, asked["id"], approval, auth=None, now=NOW
    )
    assert done["reader_schema"] == {"subject": reader_subject(asked["id"]), "id": 101}
    [schema] = registry[1].registered[reader_subject(asked["id"])]
    assert [f["name"] for f in json.loads(schema)["fields"]] == ["province_code"]
    async with sessions() as session:
        assert (await active_agreement(session, asked["id"], "mof", NOW)).granted_fields == [
            "province_code"
        ]
    with pytest.raises(InvalidTransition):
        await agreements.approve(
            backends, audit, PROVIDER, asked["id"], Approval(), auth=None, now=NOW
        )
    revoked = await agreements.revoke(
        backends, audit, CONSUMER, asked["id"], Decision(reason="done"), now=NOW
    )
    assert revoked["state"] == "revoked"
    assert await actions(sessions, asked["id"]) == [
        "agreement.request",
        "agreement.approve",
        "agreement.revoke",
    ]


async def test_sweep_expires_and_audits_once(
    backends: Backends, audit: AuditLog, sessions: Sessions
) -> None:
    end = NOW + timedelta(minutes=5)
    asked = await agreements.request_agreement(
        backends, audit, CONSUMER, request_body(valid_until=end.isoformat()), None, now=NOW
    )
    assert await sweep(backends, audit, NOW) == []
    [expired] = await sweep(backends, audit, end)
    assert expired.id == asked["id"]
    assert await sweep(backends, audit, end + timedelta(minutes=1)) == []
    assert await actions(sessions, asked["id"]) == ["agreement.request", "agreement.expire"]


async def test_a_change_the_audit_trail_refuses_is_undone(
    backends: Backends, audit: AuditLog, sessions: Sessions, tmp_path: Path
) -> None:
    asked = await agreements.request_agreement(
        backends, audit, CONSUMER, request_body(), None, now=NOW
    )

    # A control plane without the audit table: the audit trail cannot take the record.
    elsewhere = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'no-audit.db'}")
    broken = AuditLog(session_factory(elsewhere), "sqlite", None, "ndxp.audit")
    try:
        with pytest.raises(Unavailable):
            await agreements.approve(
                backends, broken, PROVIDER, asked["id"], Approval(), auth=None, now=NOW
            )
        with pytest.raises(Unavailable):
            await agreements.request_agreement(
                backends, broken, CONSUMER, request_body(), None, now=NOW
            )
        end = datetime(2027, 1, 1, tzinfo=UTC)
        with pytest.raises(Unavailable):
            await sweep(backends, broken, end)
    finally:
        await broken.close()
        await elsewhere.dispose()
    async with sessions() as session:
        rows = list(await session.scalars(select(Agreement)))
    assert [(r.id, r.state, r.reader_schema_id) for r in rows] == [(asked["id"], "requested", None)]
    assert await actions(sessions, asked["id"]) == ["agreement.request"]
    [expired] = await sweep(backends, audit, datetime(2027, 1, 1, tzinfo=UTC))  # retried
    assert await actions(sessions, expired.id) == ["agreement.request", "agreement.expire"]
