"""The in-memory view of identities on a real control plane (SQLite, then PostgreSQL): the
triggers count every change however it is written, and the view follows them within its bound
even with no poller running."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.auth.secrets import hash_secret
from services.core.auth.view import IdentityView
from services.core.db.models import Agency, Client, RevokedToken

Sessions = async_sessionmaker[AsyncSession]


async def add_client(sessions: Sessions) -> tuple[str, str]:
    agency, client_id = f"t{uuid.uuid4().hex[:10]}", f"c-{uuid.uuid4().hex[:8]}"
    async with sessions.begin() as session:
        session.add(Agency(id=agency, name="Test", kind="other"))
        await session.flush()
        hashed = hash_secret("s", n=16, r=1, p=1)
        session.add(
            Client(id=client_id, agency_id=agency, name="c", secret_hash=hashed, scopes="publish")
        )
    return agency, client_id


async def test_every_write_to_the_identity_tables_moves_the_counter(sessions: Sessions) -> None:
    view = IdentityView(sessions)
    agency, client_id = await add_client(sessions)
    expires = datetime.now(UTC) + timedelta(minutes=5)
    writes = [
        update(Client).where(Client.id == client_id).values(enabled=False),
        update(Agency).where(Agency.id == agency).values(enabled=False),
        text("UPDATE clients SET secret_hash = 'x' WHERE id = :id").bindparams(id=client_id),
        RevokedToken.__table__.insert().values(
            jti="j1", client_id=client_id, expires_at=expires, revoked_at=expires
        ),
        delete(RevokedToken).where(RevokedToken.jti == "j1"),
    ]
    for write in writes:
        before = await view.read_version()
        async with sessions.begin() as session:
            await session.execute(write)
        assert await view.read_version() > before, write


async def test_a_request_sees_a_change_within_the_bound_without_a_poller(
    sessions: Sessions,
) -> None:
    view = IdentityView(sessions, poll_seconds=60, max_age_seconds=0.3)  # never polled here
    agency, client_id = await add_client(sessions)
    await view.refresh()
    assert (await view.token_status("j2", client_id)).client_enabled

    async with sessions.begin() as session:  # behind the view's back, as another process would
        await session.execute(update(Agency).where(Agency.id == agency).values(enabled=False))
        session.add(RevokedToken(jti="j2", client_id=client_id,
                                 expires_at=datetime.now(UTC) + timedelta(minutes=5)))  # fmt: skip
    await asyncio.sleep(1.0)  # a request a second after the change sees it
    status = await view.token_status("j2", client_id)
    assert status.revoked
    assert not status.agency_enabled and (await view.client(client_id)) is not None
    assert not (await view.external_token_status(None, agency)).agency_enabled


async def test_a_client_created_since_the_last_reload_is_found(sessions: Sessions) -> None:
    view = IdentityView(sessions, poll_seconds=60, max_age_seconds=60)
    await view.refresh()
    _, client_id = await add_client(sessions)
    found = await view.client(client_id)
    assert found is not None and found.id == client_id and found.active
    assert (await view.token_status(None, client_id)).known
    assert await view.client("nobody") is None
