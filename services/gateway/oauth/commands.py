"""``ndxp keys rotate [--immediate]`` and ``ndxp keys list``: the token signing keys.

They work on the control-plane database directly, with the same key-encryption key as the
gateways (``NDXP_AUTH_KEY_ENCRYPTION_KEY``, or the data dir's key file); ``ndxp db migrate``
creates the database.
"""

from __future__ import annotations

import argparse
from typing import Any, Final

from services.core.cli.control_plane import control_plane
from services.core.cli.errors import CommandError
from services.core.config import GatewaySettings
from services.core.db.engine import session_factory
from services.gateway.oauth.kek import KeyEncryptionError
from services.gateway.oauth.keys import KeyStore, StoredKey, choose_signing_key, key_state

COMMANDS: Final = frozenset({"keys"})


def add_parsers(commands: Any) -> None:
    """Add ``keys`` to the ``ndxp`` command's subparsers."""
    keys = commands.add_parser("keys", help="the gateway's token signing keys")
    key_cmds = keys.add_subparsers(dest="keys_command", required=True)
    rotate = key_cmds.add_parser(
        "rotate",
        help="create a new signing key: published in JWKS now, signing once verifiers have "
        "fetched it (after NDXP_AUTH_JWKS_CACHE_SECONDS)",
    )
    rotate.add_argument(
        "--immediate", action="store_true", help="sign with it at once (an emergency)"
    )
    key_cmds.add_parser("list", help="list the keys and their state")


def _line(key: StoredKey, state: str) -> str:
    retired = key.retired_at.isoformat(timespec="seconds") if key.retired_at else "-"
    active = key.active_from.isoformat(timespec="seconds")
    return "\t".join((key.kid, key.algorithm, state, f"active_from={active}", f"retired={retired}"))


async def run(args: argparse.Namespace) -> int:
    try:
        await _run(args)
    except KeyEncryptionError as exc:
        raise CommandError(str(exc)) from exc
    return 0


async def _run(args: argparse.Namespace) -> None:
    settings = GatewaySettings()
    async with control_plane(settings) as engine:
        store = KeyStore(session_factory(engine), settings)
        if args.keys_command == "rotate":
            current = choose_signing_key(await store.keys(fresh=True), store.now())
            if current is None:  # the first key signs at once: nothing to hand over from
                created, state = await store.ensure_signing_key(), "signing"
            else:
                store.open_key(current)  # a wrong key-encryption key fails before any write
                created = await store.rotate(immediate=args.immediate)
                state = "signing" if args.immediate else "next"
            print(_line(created, state))  # noqa: T201 - the command's output
        keys = await store.keys(fresh=True)
        if args.keys_command == "list":
            now = store.now()
            signing = choose_signing_key(keys, now)
            for key in sorted(keys, key=lambda k: k.created_at):
                print(_line(key, key_state(key, signing, now, store.grace)))  # noqa: T201
