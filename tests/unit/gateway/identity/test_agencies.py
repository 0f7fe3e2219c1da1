"""Agencies and clients over a fresh SQLite control plane: no network, no gateway."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.core.auth.secrets import verify_secret
from services.core.db.engine import create_engine, session_factory
from services.core.db.migrate import migrate
from services.core.db.models import Client
from services.gateway.identity import agencies as identity
from services.gateway.identity.agencies import (
    AgencyDisabled,
    AgencyExists,
    AgencyIn,
    AgencyNotFound,
    ClientIn,
    ClientNotFound,
    Sessions,
)
from services.gateway.identity.last_admin import LastAdmin


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[Sessions]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'ndxp.db'}")
    await migrate(engine)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


async def make_agency(sessions: Sessions, agency_id: str = "mps", code: str | None = None) -> None:
    data = AgencyIn(id=agency_id, name="Bộ Công an", kind="ministry", code=code)
    await identity.create_agency(sessions, data)


async def test_agency_lifecycle(sessions: Sessions) -> None:
    await make_agency(sessions, code="G01.01")
    doc = identity.agency_document(await identity.get_agency(sessions, "mps"))
    assert doc | {"created_at": "-"} == {
        "id": "mps",
        "name": "Bộ Công an",
        "kind": "ministry",
        "code": "G01.01",
        "enabled": True,
        "created_at": "-",
    }
    assert not (await identity.set_agency_enabled(sessions, "mps", enabled=False)).enabled
    assert not (await identity.get_agency(sessions, "mps")).enabled
    assert (await identity.set_agency_enabled(sessions, "mps", enabled=True)).enabled


async def test_duplicate_id_or_code_is_a_conflict(sessions: Sessions) -> None:
    await make_agency(sessions, code="G01")
    with pytest.raises(AgencyExists):
        await make_agency(sessions)
    with pytest.raises(AgencyExists, match="G01"):
        await make_agency(sessions, "mof", code="G01")
    assert [a.id for a in await identity.list_agencies(sessions)] == ["mps"]


async def test_unknown_agency(sessions: Sessions) -> None:
    with pytest.raises(AgencyNotFound):
        await identity.get_agency(sessions, "nope")
    with pytest.raises(AgencyNotFound):
        await identity.create_client(sessions, "nope", ClientIn(name="x", scopes=["publish"]))


@pytest.mark.parametrize(
    "fields",
    [
        {"id": "ndxp"},
        {"id": "Mps"},
        {"kind": "company"},
        {"name": ""},
        {"code": "has space"},
        {"code": "x" * 36},
        {"extra": 1},
    ],
)
def test_agency_validation(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        AgencyIn.model_validate({"id": "mps", "name": "n", "kind": "ministry"} | fields)


@pytest.mark.parametrize("scopes", [[], ["publish", "root"], ["PUBLISH"]])
def test_client_scopes_must_be_known(scopes: list[str]) -> None:
    with pytest.raises(ValidationError):
        ClientIn(name="x", scopes=scopes)


async def test_client_secret_is_stored_only_as_a_hash(sessions: Sessions) -> None:
    await make_agency(sessions)
    issued = await identity.create_client(
        sessions, "mps", ClientIn(name="Hệ thống Cư trú", scopes=["publish", "catalog:read"])
    )
    assert re.fullmatch(r"mps-he-thong-cu-tru-[a-z0-9]{6}", issued.client.id)
    async with sessions() as session:
        stored = await session.get(Client, issued.client.id)
    assert stored is not None
    assert issued.secret not in stored.secret_hash
    assert stored.secret_hash.startswith("scrypt$")
    assert verify_secret(issued.secret, stored.secret_hash)
    assert stored.scopes == "catalog:read publish"

    listed = [identity.client_document(c) for c in await identity.list_clients(sessions, "mps")]
    text = json.dumps(listed)
    assert issued.secret not in text
    assert "scrypt" not in text
    assert listed[0]["scopes"] == ["catalog:read", "publish"]
    assert identity.issued_document(issued)["client_secret"] == issued.secret


async def test_rotation_replaces_the_secret(sessions: Sessions) -> None:
    await make_agency(sessions)
    first = await identity.create_client(sessions, "mps", ClientIn(name="t", scopes=["publish"]))
    second = await identity.rotate_secret(sessions, first.client.id)
    assert second.secret != first.secret
    assert second.client.secret_rotated_at is not None
    async with sessions() as session:
        stored = await session.get(Client, first.client.id)
    assert stored is not None
    assert verify_secret(second.secret, stored.secret_hash)
    assert not verify_secret(first.secret, stored.secret_hash)
    with pytest.raises(ClientNotFound):
        await identity.rotate_secret(sessions, "mps-nope-000000")


async def test_disabled_agency_gets_no_new_clients(sessions: Sessions) -> None:
    await make_agency(sessions)
    await identity.set_agency_enabled(sessions, "mps", enabled=False)
    with pytest.raises(AgencyDisabled):
        await identity.create_client(sessions, "mps", ClientIn(name="t", scopes=["publish"]))


async def test_disable_client(sessions: Sessions) -> None:
    await make_agency(sessions)
    issued = await identity.create_client(sessions, "mps", ClientIn(name="t", scopes=["publish"]))
    assert not (await identity.set_client_enabled(sessions, issued.client.id, False)).enabled
    (listed,) = await identity.list_clients(sessions, "mps")
    assert not listed.enabled


async def test_the_last_admin_client_is_kept_unless_told_otherwise(sessions: Sessions) -> None:
    await make_agency(sessions)
    only = await identity.create_client(sessions, "mps", ClientIn(name="t", scopes=["admin"]))
    with pytest.raises(LastAdmin):
        await identity.set_client_enabled(sessions, only.client.id, False)
    with pytest.raises(LastAdmin):
        await identity.set_agency_enabled(sessions, "mps", False)
    assert (await identity.get_agency(sessions, "mps")).enabled  # nothing was written
    assert [c.enabled for c in await identity.list_clients(sessions, "mps")] == [True]
    # the CLI's way: an operator on the hub's machine can enable it again
    client = await identity.set_client_enabled(sessions, only.client.id, False, keep_admin=False)
    assert not client.enabled


def test_client_ids_fit_the_column() -> None:
    agency = "a" + "b" * 31
    client_id = identity.client_id_for(agency, "A very long name " * 10)
    assert len(client_id) <= identity.CLIENT_ID_MAX
    assert client_id.startswith(f"{agency}-a-very-long")
    assert identity.client_id_for("mps", "!!!").startswith("mps-client-")
    assert identity.slugify("Đồng bộ Dữ liệu") == "dong-bo-du-lieu"
