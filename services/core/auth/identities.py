"""The hub's own identities: one OAuth2 client per internal service that calls another.

A service that needs tokens (connect reads contracts at the registry) and is given no credentials
gets a client of the reserved system agency ``ndxp`` (:data:`SYSTEM_AGENCY`, which no member can
take), created by the service itself on its first start, with the scopes it names and no more.
The secret is kept only in ``<data dir>/identities/<service>.json`` (mode 0600, in a 0700
directory) and, as every secret, as a hash in the control plane.

Later starts reuse the file's client when the control plane knows it and its secret still
matches. Processes on one data dir (``ndxp connect --workers N``) take a file lock, so they make
one client, not N. A process whose data dir lacks the file (another replica's machine, a container
without a volume, a data dir pointed at another database) creates a client of its own rather than
rotating a shared one: rotating would cut off the replicas holding the old secret. Such clients
are listed by ``ndxp clients list ndxp``; an operator disables the ones no process uses. A
production deployment gives each service its credentials instead (``NDXP_CONNECT_CLIENT_ID`` and
a secret), and then nothing is created.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.auth.secrets import hash_secret, new_secret, verify_secret
from services.core.db.models import Agency, Client
from services.core.files import private_dir, write_private
from services.core.kafka.topics import RESERVED_AGENCY

log = logging.getLogger(__name__)

SYSTEM_AGENCY: Final = RESERVED_AGENCY
SYSTEM_AGENCY_NAME: Final = "ndxp hub services"
IDENTITIES_DIR: Final = "identities"
DEMO_CLIENT_FILE: Final = "demo-client.json"  # in the data dir: the client ``ndxp up`` seeds
_ID_ATTEMPTS: Final = 5

Sessions = async_sessionmaker[AsyncSession]


class ClientFileError(ValueError):
    """A credentials file is missing, unreadable or not ``{"client_id", "client_secret"}``."""


@dataclass(frozen=True)
class ClientSecret:
    """A client's id and its secret in clear, and where they were read from (or written to)."""

    client_id: str
    secret: str
    path: Path | None = None


def read_client_file(path: Path) -> ClientSecret:
    """``{"client_id": ..., "client_secret": ...}`` from ``path`` (the demo client's file, a
    service identity's file)."""
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ClientFileError(f"{path} does not exist") from exc
    except (OSError, ValueError) as exc:
        raise ClientFileError(f"{path} cannot be read: {exc}") from exc
    client_id = found.get("client_id") if isinstance(found, dict) else None
    secret = found.get("client_secret") if isinstance(found, dict) else None
    if not (isinstance(client_id, str) and client_id and isinstance(secret, str) and secret):
        raise ClientFileError(f"{path} does not hold a client_id and a client_secret")
    return ClientSecret(client_id, secret, path)


def write_client_file(path: Path, client: ClientSecret) -> None:
    """Write the credentials readable by the owner only, replacing ``path`` in one step (a reader
    never sees half a file, and the secret is never in a file others may read)."""
    body = json.dumps({"client_id": client.client_id, "client_secret": client.secret}, indent=2)
    write_private(path, body + "\n")


def identity_file(data_dir: Path, service: str) -> Path:
    return data_dir / IDENTITIES_DIR / f"{service}.json"


async def service_identity(
    sessions: Sessions, data_dir: Path, service: str, scopes: Collection[str]
) -> ClientSecret:
    """The client ``service`` calls the other services as: the one in its identity file when the
    control plane knows it, else a new client of :data:`SYSTEM_AGENCY` (kept in the file)."""
    path = identity_file(data_dir, service)
    wanted = " ".join(sorted(scopes))
    async with _file_lock(path.with_suffix(".lock")):
        held = _read_held(path)
        if held is not None and await _still_valid(sessions, held, wanted):
            return held
        created = await _create(sessions, service, wanted)
        try:
            write_client_file(path, created)
        except OSError as exc:  # a read-only data dir: this process still has its client
            log.warning("cannot keep %s's identity in %s: %s", service, path, exc)
            return created
        log.info("%s's identity: client %s of agency %s (%s)", service, created.client_id,
                 SYSTEM_AGENCY, path)  # fmt: skip
        return ClientSecret(created.client_id, created.secret, path)


def _read_held(path: Path) -> ClientSecret | None:
    if not path.exists():
        return None
    try:
        return read_client_file(path)
    except ClientFileError as exc:
        log.warning("ignoring %s", exc)
        return None


async def _still_valid(sessions: Sessions, held: ClientSecret, scopes: str) -> bool:
    """Whether the control plane knows ``held`` with this secret; its scopes are brought to what
    the service needs now (a newer ndxp may need others). A client an operator disabled stays
    disabled: the service then gets no tokens, which is what the operator asked for."""
    async with sessions.begin() as session:
        client = await session.get(Client, held.client_id)
        if client is None or client.agency_id != SYSTEM_AGENCY:
            log.warning("client %s of %s is unknown here: creating another", held.client_id,
                        held.path)  # fmt: skip
            return False
        if not await asyncio.to_thread(verify_secret, held.secret, client.secret_hash):
            log.warning("the secret in %s is no longer client %s's: creating another client",
                        held.path, held.client_id)  # fmt: skip
            return False
        if not client.enabled:
            log.warning("client %s (%s) is disabled: no tokens for it", client.id, held.path)
        client.scopes = scopes
    return True


async def _create(sessions: Sessions, service: str, scopes: str) -> ClientSecret:
    await _ensure_system_agency(sessions)
    secret = new_secret()
    secret_hash = await asyncio.to_thread(hash_secret, secret)
    name = f"{service} service on {socket.gethostname()}"[:200]
    for _ in range(_ID_ATTEMPTS):
        client_id = f"{SYSTEM_AGENCY}-{service}-{secrets.token_hex(3)}"
        try:
            async with sessions.begin() as session:
                session.add(
                    Client(
                        id=client_id,
                        agency_id=SYSTEM_AGENCY,
                        name=name,
                        secret_hash=secret_hash,
                        scopes=scopes,
                    )
                )
        except IntegrityError:  # the random suffix collided: draw another
            continue
        return ClientSecret(client_id, secret)
    raise RuntimeError(f"no free client id for the {service} service after {_ID_ATTEMPTS} draws")


async def _ensure_system_agency(sessions: Sessions) -> None:
    async with sessions() as session:
        if await session.get(Agency, SYSTEM_AGENCY) is not None:
            return
    with contextlib.suppress(IntegrityError):  # another process created it just now
        async with sessions.begin() as session:
            session.add(Agency(id=SYSTEM_AGENCY, name=SYSTEM_AGENCY_NAME, kind="other"))


@contextlib.asynccontextmanager
async def _file_lock(path: Path) -> AsyncIterator[None]:
    """An exclusive lock between the processes of one data dir; none where the data dir cannot
    be written (then each process may make its own client, which is harmless)."""
    try:
        private_dir(path.parent)
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        log.warning("no lock on %s: %s", path, exc)
        yield
        return
    try:
        await asyncio.to_thread(fcntl.flock, descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing the descriptor releases the lock
