"""The ``ndxp`` command: run the hub or one of its services, and operate it."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn

from services import demo
from services.connectors import commands as connect_commands
from services.core.audit import commands as audit_commands
from services.core.config import (
    ConnectSettings,
    GatewaySettings,
    RegistrySettings,
    ServiceSettings,
)
from services.core.db.engine import create_engine
from services.core.db.migrate import migrate
from services.core.files import private_dir
from services.core.local_kafka import LocalKafka, die_with_parent, ensure_kafka
from services.core.logging import configure_logging
from services.gateway import commands as identity_commands
from services.gateway.oauth import commands as key_commands
from services.registry import sync
from services.registry.contracts import discover, lint_files

log = logging.getLogger("ndxp")

SERVICES: dict[str, tuple[str, type[ServiceSettings]]] = {
    "registry": ("services.registry.app", RegistrySettings),
    "gateway": ("services.gateway.app", GatewaySettings),
    "connect": ("services.connectors.app", ConnectSettings),
}
CHILD_STOP_TIMEOUT = 15.0


def serve(name: str, host: str | None, port: int | None, workers: int = 1) -> None:
    """Run one service in the foreground against ``NDXP_KAFKA_BOOTSTRAP``.

    With several workers, uvicorn forks processes that each build the app from the environment,
    so the flags are handed over as the service's ``NDXP_<SERVICE>_HOST/PORT`` variables.
    """
    module, settings_type = SERVICES[name]
    prefix = f"NDXP_{name.upper()}_"
    for key, value in (("HOST", host), ("PORT", port)):
        if value is not None:
            os.environ[prefix + key] = str(value)
    settings = settings_type()
    if workers > 1:
        uvicorn.run(
            f"{module}:create_app",
            factory=True,
            workers=workers,
            host=settings.host,
            port=settings.port,
            log_config=None,
        )
        return
    factory = __import__(module, fromlist=["create_app"]).create_app
    uvicorn.run(factory(settings), host=settings.host, port=settings.port, log_config=None)


@dataclass
class Child:
    name: str
    url: str
    process: subprocess.Popen[bytes]


def _spawn(name: str, host: str, port: int, env: dict[str, str]) -> Child:
    argv = [sys.executable, "-m", "services.cli", name, "--host", host, "--port", str(port)]
    process = subprocess.Popen(
        argv,
        env=env,
        stdin=subprocess.DEVNULL,
        preexec_fn=die_with_parent,
        start_new_session=True,
    )
    return Child(name, f"http://{host}:{port}", process)


async def _wait_ready(children: Sequence[Child], within: float) -> None:
    deadline = time.monotonic() + within
    pending = list(children)
    async with httpx.AsyncClient(timeout=5.0) as client:
        while pending and time.monotonic() < deadline:
            for child in list(pending):
                if child.process.poll() is not None:
                    raise RuntimeError(f"{child.name} exited with {child.process.returncode}")
                try:
                    if (await client.get(f"{child.url}/readyz")).status_code == 200:  # noqa: PLR2004
                        pending.remove(child)
                except httpx.TransportError:
                    pass
            await asyncio.sleep(0.3)
    if pending:
        raise RuntimeError(f"not ready after {within:.0f}s: {[c.name for c in pending]}")


def _stop_children(children: Sequence[Child]) -> None:
    for child in children:
        if child.process.poll() is None:
            child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + CHILD_STOP_TIMEOUT
    for child in children:
        try:
            child.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("%s ignored SIGTERM; killing it", child.name)
            child.process.kill()
            child.process.wait()


async def up(args: argparse.Namespace) -> int:
    """Kafka (unless NDXP_KAFKA_BOOTSTRAP names one), then registry, gateway and connect."""
    settings = ServiceSettings()
    configure_logging(settings.log)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    private_dir(settings.data_dir)  # it holds the control plane, keys and credentials
    env = dict(os.environ)
    broker: LocalKafka | None = None
    children: list[Child] = []
    try:
        if not settings.kafka.bootstrap:
            broker = LocalKafka(
                settings.kafka,
                settings.data_dir / "kafka",
                host=args.host,
                port=settings.kafka.local_port,
                controller_port=settings.kafka.local_controller_port,
            )
            env["NDXP_KAFKA_BOOTSTRAP"] = await broker.start()
        engine = create_engine(settings.database_url)
        try:
            log.info("database at revision %s", await migrate(engine))
            demo_client = await demo.seed_identity(settings, engine)
        finally:
            await engine.dispose()
        env["NDXP_MIGRATE_ON_START"] = "false"  # done once above, not raced by three services
        ports = {
            name: getattr(args, f"{name}_port") or SERVICES[name][1]().port for name in SERVICES
        }
        # The gateway's URL: its tokens name it and the other services fetch its JWKS from it.
        host = "127.0.0.1" if args.host in {"0.0.0.0", "::"} else args.host
        env.setdefault("NDXP_AUTH_ISSUER", f"http://{host}:{ports['gateway']}")
        env.setdefault("NDXP_GATEWAY_REGISTRY_URL", f"http://{host}:{ports['registry']}")
        env.setdefault("NDXP_CONNECT_REGISTRY_URL", f"http://{host}:{ports['registry']}")
        for name, port in ports.items():
            children.append(_spawn(name, args.host, port, env))
        await _wait_ready(children, args.ready_timeout)
        log.info("ndxp is up: %s", ", ".join(f"{c.name} {c.url}" for c in children))
        if demo_client is not None:
            await demo.seed_dataset(f"http://{host}:{ports['gateway']}", demo_client)
            log.info(
                "demo agency %r, dataset %s.%s; client credentials in %s",
                demo.AGENCY, demo.AGENCY, demo.DATASET, demo.credentials_file(settings),
            )  # fmt: skip
        while not stop.is_set():
            exited = [c for c in children if c.process.poll() is not None]
            if exited:
                log.error(
                    "%s exited with %s; stopping", exited[0].name, exited[0].process.returncode
                )
                return 1
            if broker is not None and not broker.running:
                log.error("the Kafka broker exited; see %s", broker.log_file)
                return 1
            await asyncio.wait([asyncio.ensure_future(stop.wait())], timeout=0.5)
        log.info("stopping")
        return 0
    finally:
        _stop_children(children)
        if broker is not None:
            broker.stop()


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
    outcomes = sync.run(args.registry, discover(args.root), write=args.schemas_command == "push")
    for outcome in outcomes:
        line = f"{outcome.contract.subject}: {outcome.status}"
        print(f"{line} ({outcome.detail})" if outcome.detail else line)  # noqa: T201
    return 1 if any(outcome.failed for outcome in outcomes) else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ndxp", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    up_cmd = commands.add_parser("up", help="run the whole hub locally, Kafka included")
    up_cmd.add_argument("--host", default="127.0.0.1")
    for name in SERVICES:
        up_cmd.add_argument(f"--{name}-port", type=int, default=None)
    up_cmd.add_argument("--ready-timeout", type=float, default=120.0)

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

    db = commands.add_parser("db", help="the control-plane database")
    db_cmds = db.add_subparsers(dest="db_command", required=True)
    db_cmds.add_parser("migrate", help="apply the migrations")

    identity_commands.add_parsers(commands)
    key_commands.add_parsers(commands)
    audit_commands.add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "up":
        return asyncio.run(up(args))
    if args.command == "connect" and args.connect_command:
        return connect_commands.run(args)
    if args.command in SERVICES:
        serve(args.command, args.host, args.port, args.workers)
        return 0
    if args.command == "schemas":
        return schemas_command(args)
    configure_logging(ServiceSettings().log)
    for module in (identity_commands, key_commands, audit_commands):
        if args.command in module.COMMANDS:
            result: int = asyncio.run(module.run(args))
            return result
    if args.command == "kafka":
        print(ensure_kafka(ServiceSettings().kafka))  # noqa: T201 - the command's output
    elif args.command == "db":
        asyncio.run(migrate_database())
    return 0


if __name__ == "__main__":
    sys.exit(main())
