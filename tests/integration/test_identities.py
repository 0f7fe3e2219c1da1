"""The hub's own identities on a real control plane (SQLite and PostgreSQL): created once, kept
in the data dir readable by the owner only, reused, and replaced only when they no longer work."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.auth.identities import (
    SYSTEM_AGENCY,
    identity_file,
    read_client_file,
    service_identity,
)
from services.core.auth.secrets import hash_secret, verify_secret
from services.core.db.models import Agency, Client

Sessions = async_sessionmaker[AsyncSession]


async def system_clients(sessions: Sessions) -> list[Client]:
    async with sessions() as session:
        query = select(Client).where(Client.agency_id == SYSTEM_AGENCY).order_by(Client.id)
        return list(await session.scalars(query))


async def test_a_service_s_identity_is_created_once_and_kept_for_the_owner_only(
    sessions: Sessions, tmp_path: Path
) -> None:
    first = await service_identity(sessions, tmp_path, "connect", ["catalog:read"])
    path = identity_file(tmp_path, "connect")
    assert first.path == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert read_client_file(path) == first
    assert first.client_id.startswith("ndxp-connect-")

    again = await service_identity(sessions, tmp_path, "connect", ["catalog:read"])
    assert again == first
    (client,) = await system_clients(sessions)
    assert (client.id, client.scopes, client.enabled) == (first.client_id, "catalog:read", True)
    assert verify_secret(first.secret, client.secret_hash)
    async with sessions() as session:
        agency = await session.get(Agency, SYSTEM_AGENCY)
    assert agency is not None and agency.enabled


async def test_processes_starting_together_on_one_data_dir_make_one_client(
    sessions: Sessions, tmp_path: Path
) -> None:
    found = await asyncio.gather(
        *(service_identity(sessions, tmp_path, "connect", ["catalog:read"]) for _ in range(4))
    )
    assert len({each.client_id for each in found}) == 1
    assert len(await system_clients(sessions)) == 1


async def test_another_data_dir_gets_a_client_of_its_own_and_nothing_is_rotated(
    sessions: Sessions, tmp_path: Path
) -> None:
    one = await service_identity(sessions, tmp_path / "a", "connect", ["catalog:read"])
    other = await service_identity(sessions, tmp_path / "b", "connect", ["catalog:read"])
    assert one.client_id != other.client_id
    clients = {c.id: c for c in await system_clients(sessions)}
    assert verify_secret(one.secret, clients[one.client_id].secret_hash)  # still works


async def test_an_identity_the_control_plane_does_not_honour_is_replaced(
    sessions: Sessions, tmp_path: Path
) -> None:
    path = identity_file(tmp_path, "connect")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"client_id": "ndxp-connect-gone", "client_secret": "x"}))
    unknown = await service_identity(sessions, tmp_path, "connect", ["catalog:read"])
    assert unknown.client_id != "ndxp-connect-gone"
    assert read_client_file(path).client_id == unknown.client_id

    async with sessions.begin() as session:  # an operator rotated it by hand
        await session.execute(
            update(Client)
            .where(Client.id == unknown.client_id)
            .values(secret_hash=hash_secret("rotated"), scopes="catalog:read admin")
        )
    rotated = await service_identity(sessions, tmp_path, "connect", ["catalog:read"])
    assert rotated.client_id not in {unknown.client_id, "ndxp-connect-gone"}

    async with sessions.begin() as session:  # scopes follow what the service needs now
        await session.execute(
            update(Client).where(Client.id == rotated.client_id).values(scopes="admin")
        )
    assert await service_identity(sessions, tmp_path, "connect", ["catalog:read"]) == rotated
    clients = {c.id: c.scopes for c in await system_clients(sessions)}
    assert clients[rotated.client_id] == "catalog:read"


async def test_a_data_dir_it_cannot_write_still_gives_the_process_a_working_client(
    sessions: Sessions, tmp_path: Path
) -> None:
    (tmp_path / "identities").write_text("")  # no directory can be made there (even by root)
    found = await service_identity(sessions, tmp_path, "connect", ["catalog:read"])
    assert found.path is None
    (client,) = await system_clients(sessions)
    assert client.id == found.client_id and verify_secret(found.secret, client.secret_hash)
