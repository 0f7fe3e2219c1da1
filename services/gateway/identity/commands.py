"""``ndxp agencies ...`` and ``ndxp clients ...``: bootstrap and operate identities from a shell.

They work on the control-plane database directly (``NDXP_DATABASE_URL`` or the data dir's SQLite
file), which must exist (``ndxp db migrate`` creates it), so the first admin client can be made
before any gateway runs. They call the same functions as the admin API.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError

from services.core.auth.principal import SCOPES
from services.core.cli.control_plane import control_plane
from services.core.config import ServiceSettings
from services.core.db.engine import session_factory
from services.core.db.models import AGENCY_KINDS, Agency, Client
from services.core.errors import NdxpError
from services.gateway.identity import agencies
from services.gateway.identity.agencies import AgencyIn, ClientIn, IssuedSecret, Sessions
from services.gateway.identity.last_admin import admin_clients

Handler = Callable[[Sessions, argparse.Namespace], Awaitable[None]]


def add_parsers(commands: Any) -> None:
    """Add ``agencies`` and ``clients`` to the ``ndxp`` command's subparsers."""
    agency_parser = commands.add_parser("agencies", help="the hub's member agencies")
    agency_cmds = agency_parser.add_subparsers(dest="agencies_command", required=True)
    create = agency_cmds.add_parser("create", help="add an agency")
    create.add_argument("id", help="short id: a-z, 0-9 and '-', e.g. mps")
    create.add_argument("--name", required=True, help="display name")
    create.add_argument("--kind", required=True, choices=AGENCY_KINDS)
    create.add_argument("--code", help="official electronic identifier code")
    agency_cmds.add_parser("list", help="list the agencies")
    for verb in ("disable", "enable"):
        cmd = agency_cmds.add_parser(verb, help=f"{verb} an agency and, with it, its clients")
        cmd.add_argument("id")

    clients = commands.add_parser("clients", help="OAuth2 clients of the agencies")
    client_cmds = clients.add_subparsers(dest="clients_command", required=True)
    create = client_cmds.add_parser("create", help="add a client; prints its secret once")
    create.add_argument("agency")
    create.add_argument("--name", required=True)
    create.add_argument(
        "--scope",
        dest="scopes",
        action="append",
        required=True,
        choices=sorted(SCOPES),
        help="a scope it may ask for (repeat the option for several)",
    )
    client_cmds.add_parser("list", help="list an agency's clients").add_argument("agency")
    client_cmds.add_parser("rotate", help="replace a client's secret").add_argument("client_id")
    for verb in ("disable", "enable"):
        client_cmds.add_parser(verb, help=f"{verb} a client").add_argument("client_id")


async def run(args: argparse.Namespace) -> int:
    """Run ``ndxp agencies|clients <command>``; 1 with a message on stderr if it is refused."""
    handler = _HANDLERS[(args.command, getattr(args, f"{args.command}_command"))]
    async with control_plane(ServiceSettings()) as engine:
        try:
            await handler(session_factory(engine), args)
        except ValidationError as exc:
            for error in exc.errors():
                where = ".".join(str(part) for part in error["loc"])
                _err(f"error: {where}: {error['msg'].removeprefix('Value error, ')}")
            return 1
        except NdxpError as exc:
            _err(f"error: {exc.message}")
            return 1
    return 0


def _out(line: str) -> None:
    print(line)  # noqa: T201 - the command's output


def _err(line: str) -> None:
    print(line, file=sys.stderr)  # noqa: T201 - the command's diagnostics


def _agency_line(agency: Agency) -> str:
    state = "enabled" if agency.enabled else "disabled"
    return "\t".join((agency.id, agency.kind, state, agency.code or "-", agency.name))


def _client_line(client: Client) -> str:
    state = "enabled" if client.enabled else "disabled"
    return "\t".join((client.id, state, client.scopes.replace(" ", ","), client.name))


def _print_secret(issued: IssuedSecret) -> None:
    _out(f"client_id: {issued.client.id}")
    _out(f"client_secret: {issued.secret}")
    _out(f"scopes: {issued.client.scopes}")
    _err("The secret is shown this once and cannot be recovered: store it now.")


async def _create_agency(sessions: Sessions, args: argparse.Namespace) -> None:
    data = AgencyIn(id=args.id, name=args.name, kind=args.kind, code=args.code)
    _out(_agency_line(await agencies.create_agency(sessions, data)))


async def _list_agencies(sessions: Sessions, _: argparse.Namespace) -> None:
    for agency in await agencies.list_agencies(sessions):
        _out(_agency_line(agency))


async def _set_agency(sessions: Sessions, args: argparse.Namespace) -> None:
    enabled = args.agencies_command == "enable"
    # The operator on the hub's machine may disable the last admin: the same command undoes it.
    agency = await agencies.set_agency_enabled(sessions, args.id, enabled, keep_admin=False)
    _out(_agency_line(agency))
    if not enabled:
        await _warn_without_admin(sessions, f"ndxp agencies enable {args.id}")


async def _create_client(sessions: Sessions, args: argparse.Namespace) -> None:
    data = ClientIn(name=args.name, scopes=args.scopes)
    _print_secret(await agencies.create_client(sessions, args.agency, data))


async def _list_clients(sessions: Sessions, args: argparse.Namespace) -> None:
    for client in await agencies.list_clients(sessions, args.agency):
        _out(_client_line(client))


async def _rotate(sessions: Sessions, args: argparse.Namespace) -> None:
    _print_secret(await agencies.rotate_secret(sessions, args.client_id))


async def _set_client(sessions: Sessions, args: argparse.Namespace) -> None:
    enabled = args.clients_command == "enable"
    client = await agencies.set_client_enabled(sessions, args.client_id, enabled, keep_admin=False)
    _out(_client_line(client))
    if not enabled:
        await _warn_without_admin(sessions, f"ndxp clients enable {args.client_id}")


async def _warn_without_admin(sessions: Sessions, undo: str) -> None:
    async with sessions() as session:
        if not await admin_clients(session):
            _err(
                "warning: no enabled admin client is left, so nobody can use the admin API "
                f"until one is enabled (`{undo}`) or created (`ndxp clients create`)"
            )


_HANDLERS: dict[tuple[str, str], Handler] = {
    ("agencies", "create"): _create_agency,
    ("agencies", "list"): _list_agencies,
    ("agencies", "disable"): _set_agency,
    ("agencies", "enable"): _set_agency,
    ("clients", "create"): _create_client,
    ("clients", "list"): _list_clients,
    ("clients", "rotate"): _rotate,
    ("clients", "disable"): _set_client,
    ("clients", "enable"): _set_client,
}
COMMANDS = frozenset(command for command, _ in _HANDLERS)
