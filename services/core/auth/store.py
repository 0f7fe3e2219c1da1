"""What authentication reads from (and writes to) the control plane: clients with their agency's
status, and the revocation list. Each look-up here is a primary-key query; requests do not make
them one by one but read the in-memory view (:mod:`services.core.auth.view`) that
:meth:`AuthStore.snapshot` fills, reloaded when :meth:`AuthStore.read_version` changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, delete, exists, false, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.db.models import Agency, AuthVersion, Client, RevokedToken

AUTH_VERSION_ROW = 1


@dataclass(frozen=True)
class ClientRecord:
    """A client as authentication needs it; ``active`` only if it and its agency are enabled."""

    id: str
    agency_id: str
    secret_hash: str
    scopes: frozenset[str]
    enabled: bool
    agency_enabled: bool

    @property
    def active(self) -> bool:
        return self.enabled and self.agency_enabled


@dataclass(frozen=True)
class TokenStatus:
    """The live state behind a token: found at all, revoked, client and agency enabled."""

    known: bool
    revoked: bool
    client_enabled: bool = False
    agency_enabled: bool = False


@dataclass(frozen=True)
class Snapshot:
    """Everything authentication reads, as of ``version`` of the ``auth_version`` counter:
    agencies (enabled or not), clients, and the ids of revoked tokens."""

    version: int
    agencies: Mapping[str, bool]
    clients: Mapping[str, ClientRecord]
    revoked: frozenset[str]


class AuthStore:
    """Client look-ups and the revocation list over the control-plane database."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def read_version(self) -> int:
        """The change counter the database's triggers bump (one primary-key read)."""
        async with self.sessions() as session:
            found = await session.get(AuthVersion, AUTH_VERSION_ROW, populate_existing=True)
        return 0 if found is None else found.version

    async def snapshot(self) -> Snapshot:
        """Every agency, client and revocation. The version is read *first*: a change committed
        meanwhile is then in the data and bumps the version past the one recorded, so the next
        poll loads again; read the other way round, a snapshot could claim a version newer than
        its data and the change would be missed."""
        version = await self.read_version()
        async with self.sessions() as session:
            rows = await session.execute(select(Agency.id, Agency.enabled))
            agencies: dict[str, bool] = dict(rows.all())
            clients = (await session.scalars(select(Client))).all()
            revoked = frozenset((await session.scalars(select(RevokedToken.jti))).all())
        return Snapshot(
            version,
            agencies,
            {c.id: _record(c, agencies.get(c.agency_id, False)) for c in clients},
            revoked,
        )

    async def client(self, client_id: str) -> ClientRecord | None:
        query = (
            select(Client, Agency.enabled)
            .join(Agency, Agency.id == Client.agency_id)
            .where(Client.id == client_id)
        )
        async with self.sessions() as session:
            row = (await session.execute(query)).first()
        if row is None:
            return None
        client, agency_enabled = row
        return _record(client, agency_enabled)

    async def token_status(self, jti: str | None, client_id: str) -> TokenStatus:
        """One query: is ``jti`` revoked, and are the client and its agency enabled."""
        revoked = _revoked(jti)
        query = (
            select(Client.enabled, Agency.enabled, revoked)
            .join(Agency, Agency.id == Client.agency_id)
            .where(Client.id == client_id)
        )
        async with self.sessions() as session:
            row = (await session.execute(query)).first()
        if row is None:
            return TokenStatus(known=False, revoked=False)
        return TokenStatus(True, bool(row[2]), bool(row[0]), bool(row[1]))

    async def external_token_status(self, jti: str | None, agency_id: str) -> TokenStatus:
        """For a trusted external issuer's token: revoked, and is the agency it names enabled."""
        query = select(Agency.enabled, _revoked(jti)).where(Agency.id == agency_id)
        async with self.sessions() as session:
            row = (await session.execute(query)).first()
        if row is None:
            return TokenStatus(known=False, revoked=False)
        return TokenStatus(True, bool(row[1]), client_enabled=True, agency_enabled=bool(row[0]))

    async def changed(self) -> None:
        """A write that matters to authentication was made through this process; the in-memory
        view reloads here so that it holds before the write's response is sent."""

    async def revoke(self, jti: str, client_id: str, expires_at: datetime) -> None:
        """Record a revocation (idempotent) and forget revocations of long-expired tokens."""
        now = datetime.now(UTC)
        async with self.sessions() as session:
            # Rows are only needed while their token could still pass its exp check.
            await session.execute(
                delete(RevokedToken).where(RevokedToken.expires_at < now - timedelta(hours=1))
            )
            session.add(
                RevokedToken(jti=jti, client_id=client_id, expires_at=expires_at, revoked_at=now)
            )
            try:
                await session.commit()
            except IntegrityError:  # revoked already, perhaps by another replica just now
                await session.rollback()


def _record(client: Client, agency_enabled: bool) -> ClientRecord:
    return ClientRecord(
        id=client.id,
        agency_id=client.agency_id,
        secret_hash=client.secret_hash,
        scopes=frozenset(client.scopes.split()),
        enabled=client.enabled,
        agency_enabled=agency_enabled,
    )


def _revoked(jti: str | None) -> ColumnElement[bool]:
    if jti is None:  # a token without an id cannot be revoked one by one
        return false()
    return exists().where(RevokedToken.jti == jti)
