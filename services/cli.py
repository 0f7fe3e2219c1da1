"""The ``ndxp`` command: run the hub or one of its services, and operate it."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from services.connectors import commands as connect_commands
from services.connectors.credentials import given_secret
from services.core.audit import commands as audit_commands
from services.core.cli import credentials
from services.core.cli.errors import run_guarded
from services.core.cli.kafka import kafka_bootstrap
from services.core.config import (
    ConnectSettings,
    ServiceSettings,
)
from services.core.db.engine import create_engine
from services.core.db.migrate import migrate
from services.core.http.draining import DrainingServer
from services.core.http.workers import serve_workers
from services.core.local_kafka import ensure_jmx_exporter, ensure_kafka
from services.core.logging import configure_logging
from services.gateway.identity import commands as identity_commands
from services.gateway.oauth import commands as key_commands
from services.hub import monitor as hub_monitor
from services.hub import up as hub_up
from services.hub.parts import SERVICES
from services.registry import sync
from services.registry.contracts import discover, lint_files

log = logging.getLogger("ndxp")


def serve(name: str, host: str | None, port: int | None, workers: int = 1) -> None:
    """Run one service in the foreground against ``NDXP_KAFKA_BOOTSTRAP``.

    With several workers, uvicorn forks processes that each build the app from the environment,
    so the flags are handed over as the service's ``NDXP_<SERVICE>_HOST/PORT`` variables; their
    metrics add up (:mod:`services.core.http.workers`).
    """
    module, settings_type = SERVICES[name]
    prefix = f"NDXP_{name.upper()}_"
    for key, value in (("HOST", host), ("PORT", port)):
        if value is not None:
            os.environ[prefix + key] = str(value)
    settings = settings_type()
    if workers > 1:
        serve_workers(
            f"{module}:create_app",
            workers,
            host=settings.host,
            port=settings.port,
            grace=settings.shutdown_grace,
        )
        return
    factory = __import__(module, fromlist=["create_app"]).create_app
    config = uvicorn.Config(
        factory(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        # Open streams and long polls would otherwise hold the process until they end.
        timeout_graceful_shutdown=settings.shutdown_grace,
    )
    server = DrainingServer(config)
    server.run()
    if not server.started:  # as uvicorn.run: the app's startup or the bind failed
        sys.exit(STARTUP_FAILURE)


async def migrate_database() -> None:
    settings = ServiceSettings()
    engine = create_engine(settings.database_url)
    try:
        print(await migrate(engine))  # noqa: T201 - the command's output
    finally:
        await engine.dispose()


def schemas_command(args: argparse.Namespace) -> int:
    """``ndxp schemas lint|check|push``; exits 1 when a contract has findings or is refused."""
    if args.schemas_command == "lint":
        paths = args.paths or [contract.path for contract in discover(Path())]
        failed = False
        for path, findings in lint_files(paths).items():
            failed = failed or bool(findings)
            for finding in findings:
                print(f"{path}: {finding}")  # noqa: T201 - the command's output
        print(f"{len(paths)} contract(s) linted, {'findings' if failed else 'all clean'}")  # noqa: T201
        return 1 if failed else 0
    caller = credentials.resolve(args, ServiceSettings().data_dir, os.environ)
    write = args.schemas_command == "push"
    outcomes = sync.run(args.registry, discover(args.root), caller, write=write)
    for outcome in outcomes:
        line = f"{outcome.contract.subject}: {outcome.status}"
        print(f"{line} ({outcome.detail})" if outcome.detail else line)  # noqa: T201
    return 1 if any(outcome.failed for outcome in outcomes) else 0


def token_command(args: argparse.Namespace) -> int:
    """``ndxp token``: an access token on stdout, for ``curl -H "Authorization: Bearer ..."``."""
    caller = credentials.resolve(args, ServiceSettings().data_dir, os.environ)
    print(credentials.issue_token(caller, args.scope))  # noqa: T201 - the command's output
    return 0


# Commands that call a service with the caller's credentials.
CALLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "schemas": schemas_command,
    "token": token_command,
}


# Commands that run parts of a hub on this machine until they are told to stop.
HUB_COMMANDS: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, int]]] = {
    "up": hub_up.up,
    "monitor": hub_monitor.monitor,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ndxp", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    hub_up.add_parser(commands)
    hub_monitor.add_parser(commands)

    for name in SERVICES:
        svc = commands.add_parser(name, help=f"run the {name} service alone")
        svc.add_argument("--host", default=None)
        svc.add_argument("--port", type=int, default=None)
        svc.add_argument("--workers", type=int, default=1, help="processes (replicas) to run")
        if name == "connect":
            connect_commands.add_parsers(svc)

    kafka = commands.add_parser("kafka", help="the local Kafka broker")
    kafka_cmds = kafka.add_subparsers(dest="kafka_command", required=True)
    kafka_cmds.add_parser("fetch", help="fetch the broker's jars into the cache")

    schemas = commands.add_parser("schemas", help="contracts as code: schemas/<agency>/*.avsc")
    schema_cmds = schemas.add_subparsers(dest="schemas_command", required=True)
    lint = schema_cmds.add_parser("lint", help="lint contract files offline")
    lint.add_argument("paths", nargs="*", type=Path, help="files (default: every contract)")
    for name, text in (
        ("check", "say whether each contract is compatible with what is registered"),
        ("push", "register the contracts that changed"),
    ):
        cmd = schema_cmds.add_parser(name, help=text)
        cmd.add_argument("--registry", default="http://127.0.0.1:8081", help="registry URL")
        cmd.add_argument("--root", type=Path, default=Path(), help="where schemas/ is")
        credentials.add_options(cmd)

    token = commands.add_parser(
        "token", help="print an access token (the demo client's when no credentials are given)"
    )
    token.add_argument(
        "--scope", help="ask for fewer scopes than the client holds (space-separated)"
    )
    credentials.add_options(token)

    db = commands.add_parser("db", help="the control-plane database")
    db_cmds = db.add_subparsers(dest="db_command", required=True)
    db_cmds.add_parser("migrate", help="apply the migrations")

    identity_commands.add_parsers(commands)
    key_commands.add_parsers(commands)
    audit_commands.add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; an expected failure is one line on stderr and a non-zero status."""
    args = build_parser().parse_args(argv)
    sub = getattr(args, f"{args.command}_command", None)
    name = " ".join(part for part in ("ndxp", args.command, sub) if part)
    return run_guarded(name, lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    if args.command in HUB_COMMANDS:
        return asyncio.run(HUB_COMMANDS[args.command](args))
    if args.command == "connect" and args.connect_command:
        return connect_commands.run(args)
    if args.command in SERVICES:
        if args.command == "connect":  # a client id without its secret is said before starting
            given_secret(ConnectSettings())
        # alone: on NDXP_KAFKA_BOOTSTRAP's cluster, or the broker `ndxp up` runs for the data dir
        os.environ["NDXP_KAFKA_BOOTSTRAP"] = asyncio.run(kafka_bootstrap(ServiceSettings()))
        serve(args.command, args.host, args.port, args.workers)
        return 0
    if args.command in CALLERS:
        return CALLERS[args.command](args)
    configure_logging(ServiceSettings().log)
    for module in (identity_commands, key_commands, audit_commands):
        if args.command in module.COMMANDS:
            result: int = asyncio.run(module.run(args))
            return result
    if args.command == "kafka":
        kafka = ServiceSettings().kafka
        print(ensure_kafka(kafka))  # noqa: T201 - the command's output
        print(ensure_jmx_exporter(kafka))  # noqa: T201
    elif args.command == "db":
        asyncio.run(migrate_database())
    return 0


if __name__ == "__main__":
    sys.exit(main())
