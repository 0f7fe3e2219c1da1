"""Agencies and their OAuth2 clients: the logic behind the admin API and ``ndxp agencies|clients``.

A client secret is generated here, shown to the caller once (:class:`IssuedSecret`) and stored
only as a slow salted hash; nothing can show it again, only rotate it.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import string
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.auth.principal import SCOPES
from services.core.auth.secrets import hash_secret, new_secret
from services.core.db.models import Agency, Client
from services.core.errors import Conflict, NotFound
from services.core.kafka.topics import check_agency
from services.gateway.identity.last_admin import admin_clients, keep_an_admin

CLIENT_ID_MAX: Final = 64
_SUFFIX_ALPHABET: Final = string.ascii_lowercase + string.digits
_SUFFIX_LEN: Final = 6
_ID_ATTEMPTS: Final = 5

Sessions = async_sessionmaker[AsyncSession]


class AgencyIn(BaseModel):
    """A new agency: its short id, display name, kind and official electronic identifier code."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: str
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["ministry", "province", "other"]
    code: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,34}$")

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        return check_agency(value)


class ClientIn(BaseModel):
    """A new client of an agency and the scopes it may ask for."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(min_length=1, max_length=len(SCOPES))

    @field_validator("scopes")
    @classmethod
    def _known_scopes(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - SCOPES)
        if unknown:
            raise ValueError(f"unknown scope(s) {unknown}; known: {sorted(SCOPES)}")
        return sorted(set(value))


@dataclass(frozen=True)
class IssuedSecret:
    """A client and its secret in clear: returned once, at creation or rotation."""

    client: Client
    secret: str


class AgencyNotFound(NotFound):
    code = "agency_not_found"


class AgencyExists(Conflict):
    code = "agency_exists"


class AgencyDisabled(Conflict):
    code = "agency_disabled"


class ClientNotFound(NotFound):
    code = "client_not_found"


# --- agencies ----------------------------------------------------------------------------------


async def create_agency(sessions: Sessions, data: AgencyIn) -> Agency:
    """Add an agency; ``AgencyExists`` if its id or its code is taken."""
    async with sessions.begin() as session:
        if await session.get(Agency, data.id) is not None:
            raise AgencyExists(f"agency {data.id!r} already exists")
        if data.code is not None:
            taken = await session.scalar(select(Agency.id).where(Agency.code == data.code))
            if taken is not None:
                raise AgencyExists(f"code {data.code!r} already belongs to agency {taken!r}")
        agency = Agency(id=data.id, name=data.name, kind=data.kind, code=data.code)
        session.add(agency)
        try:
            await session.flush()
        except IntegrityError as exc:  # a concurrent create won the race
            raise AgencyExists(f"agency {data.id!r} or code {data.code!r} already exists") from exc
        await session.refresh(agency)
    return agency


async def list_agencies(sessions: Sessions) -> list[Agency]:
    async with sessions() as session:
        return list(await session.scalars(select(Agency).order_by(Agency.id)))


async def get_agency(sessions: Sessions, agency_id: str) -> Agency:
    async with sessions() as session:
        return await _agency(session, agency_id)


async def set_agency_enabled(
    sessions: Sessions, agency_id: str, enabled: bool, *, keep_admin: bool = True
) -> Agency:
    """Disable (or enable again) an agency; its clients get no tokens while it is disabled.
    ``LastAdmin`` if that would leave no enabled admin client (unless ``keep_admin`` is false)."""
    async with sessions.begin() as session:
        admins = await admin_clients(session, lock=True)
        agency = await _agency(session, agency_id)
        agency.enabled = enabled
        if keep_admin and not enabled:
            await keep_an_admin(session, admins, f"disabling agency {agency_id!r}")
    return agency


async def _agency(session: AsyncSession, agency_id: str) -> Agency:
    agency = await session.get(Agency, agency_id)
    if agency is None:
        raise AgencyNotFound(f"agency {agency_id!r} does not exist")
    return agency


def agency_document(agency: Agency) -> dict[str, Any]:
    return {
        "id": agency.id,
        "name": agency.name,
        "kind": agency.kind,
        "code": agency.code,
        "enabled": agency.enabled,
        "created_at": agency.created_at.isoformat(),
    }


# --- clients -----------------------------------------------------------------------------------


async def create_client(sessions: Sessions, agency_id: str, data: ClientIn) -> IssuedSecret:
    """A new client of an enabled agency, with a fresh secret (returned, never stored)."""
    secret = new_secret()
    secret_hash = await asyncio.to_thread(hash_secret, secret)
    for _ in range(_ID_ATTEMPTS):
        try:
            async with sessions.begin() as session:
                agency = await _agency(session, agency_id)
                if not agency.enabled:
                    raise AgencyDisabled(f"agency {agency_id!r} is disabled")
                client = Client(
                    id=client_id_for(agency_id, data.name),
                    agency_id=agency_id,
                    name=data.name,
                    secret_hash=secret_hash,
                    scopes=" ".join(data.scopes),
                )
                session.add(client)
                await session.flush()
                await session.refresh(client)
        except IntegrityError:  # the random suffix collided: draw another
            continue
        return IssuedSecret(client, secret)
    raise Conflict(f"could not find a free client id for {data.name!r}; try again")


async def list_clients(sessions: Sessions, agency_id: str) -> list[Client]:
    async with sessions() as session:
        await _agency(session, agency_id)
        found = await session.scalars(
            select(Client).where(Client.agency_id == agency_id).order_by(Client.created_at)
        )
        return list(found)


async def rotate_secret(sessions: Sessions, client_id: str) -> IssuedSecret:
    """Replace the client's secret: the old one stops working at once."""
    secret = new_secret()
    secret_hash = await asyncio.to_thread(hash_secret, secret)
    async with sessions.begin() as session:
        client = await _client(session, client_id)
        client.secret_hash = secret_hash
        client.secret_rotated_at = datetime.now(UTC)
    return IssuedSecret(client, secret)


async def set_client_enabled(
    sessions: Sessions, client_id: str, enabled: bool, *, keep_admin: bool = True
) -> Client:
    """Disable (or enable again) a client: its secret is refused while it is disabled.
    ``LastAdmin`` if that would leave no enabled admin client (unless ``keep_admin`` is false)."""
    async with sessions.begin() as session:
        admins = await admin_clients(session, lock=True)
        client = await _client(session, client_id)
        client.enabled = enabled
        if keep_admin and not enabled:
            await keep_an_admin(session, admins, f"disabling client {client_id!r}")
    return client


async def _client(session: AsyncSession, client_id: str) -> Client:
    client = await session.get(Client, client_id)
    if client is None:
        raise ClientNotFound(f"client {client_id!r} does not exist")
    return client


def client_id_for(agency_id: str, name: str) -> str:
    """``<agency>-<slug of name>-<6 random characters>``, at most 64 characters."""
    room = CLIENT_ID_MAX - len(agency_id) - _SUFFIX_LEN - 2
    slug = slugify(name)[:room].strip("-") or "client"
    suffix = "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(_SUFFIX_LEN))
    return f"{agency_id}-{slug}-{suffix}"


def slugify(text: str) -> str:
    """Lower-case ASCII words joined by ``-``; Vietnamese letters lose their diacritics."""
    folded = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D"))
    ascii_text = folded.encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")


def client_document(client: Client) -> dict[str, Any]:
    """A client as the API shows it: never its secret, nor the secret's hash."""
    return {
        "client_id": client.id,
        "agency": client.agency_id,
        "name": client.name,
        "scopes": client.scopes.split(),
        "enabled": client.enabled,
        "created_at": client.created_at.isoformat(),
        "secret_rotated_at": (
            client.secret_rotated_at.isoformat() if client.secret_rotated_at else None
        ),
    }


def issued_document(issued: IssuedSecret) -> dict[str, Any]:
    """A client with its new secret: the one response that ever carries it."""
    return {**client_document(issued.client), "client_secret": issued.secret}
