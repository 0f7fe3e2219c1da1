"""What authentication reads from (and writes to) the control plane: clients with their agency's
status, and the revocation list. Every look-up here is a primary-key query, made on every request,
so that a revocation or a disabled client takes effect at once on every replica of every service.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, delete, exists, false, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.db.models import Agency, Client, RevokedToken


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


class AuthStore:
    """Client look-ups and the revocation list over the control-plane database."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

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
        return ClientRecord(
            id=client.id,
            agency_id=client.agency_id,
            secret_hash=client.secret_hash,
            scopes=frozenset(client.scopes.split()),
            enabled=client.enabled,
            agency_enabled=agency_enabled,
        )

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


def _revoked(jti: str | None) -> ColumnElement[bool]:
    if jti is None:  # a token without an id cannot be revoked one by one
        return false()
    return exists().where(RevokedToken.jti == jti)
