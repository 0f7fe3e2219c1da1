"""``ndxp up``: Kafka (unless ``NDXP_KAFKA_BOOTSTRAP`` names one), registry, gateway and connect,
supervised until SIGINT or SIGTERM.

Ready means ready for a user: the services' ``/readyz`` hold back (check ``startup``, through
``NDXP_READY_AFTER``) until the demo is seeded, and only then does ``ndxp up`` say it is up. The
seed goes through the gateway's own API, which therefore has to serve before it is ready.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx

from services import demo
from services.core.config import ServiceSettings, UpSettings
from services.core.db.engine import create_engine
from services.core.db.migrate import migrate
from services.core.files import private_dir
from services.core.http.health import STARTUP
from services.core.local_kafka import LocalKafka, local_broker_dir
from services.core.logging import configure_logging
from services.hub.parts import SERVICES, BrokerPart, ServicePart
from services.hub.supervisor import Supervisor

log = logging.getLogger("ndxp.up")

READY_FILE = "up.ready"


def add_parser(commands: Any) -> None:
    """The ``up`` command's parser, under ``ndxp``'s ``commands``."""
    up_cmd = commands.add_parser("up", help="run the whole hub locally, Kafka included")
    up_cmd.add_argument("--host", default="127.0.0.1")
    for name in SERVICES:
        up_cmd.add_argument(f"--{name}-port", type=int, default=None)
    up_cmd.add_argument("--ready-timeout", type=float, default=120.0)


async def up(args: argparse.Namespace) -> int:
    """Run the hub until SIGINT or SIGTERM (0), or until a part cannot be kept running (1)."""
    settings = ServiceSettings()
    configure_logging(settings.log)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    supervisor = Supervisor(UpSettings())
    running = asyncio.create_task(_run(args, settings, supervisor))
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if running.done():
            log.error("%s", running.result())
            return 1
        log.info("stopping")
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        return 0
    finally:
        stopping.cancel()
        started = time.monotonic()
        await supervisor.stop()
        log.info("stopped in %.1f s", time.monotonic() - started)


async def _run(args: argparse.Namespace, settings: ServiceSettings, supervisor: Supervisor) -> str:
    """Start everything, then supervise; returns why the hub cannot go on."""
    private_dir(settings.data_dir)  # it holds the control plane, keys and credentials
    env = dict(os.environ)
    if not settings.kafka.bootstrap:
        broker = LocalKafka(
            settings.kafka,
            local_broker_dir(settings.data_dir),
            host=args.host,
            port=settings.kafka.local_port,
            controller_port=settings.kafka.local_controller_port,
            jmx_port=None if settings.kafka.jmx_port == "off" else settings.kafka.jmx_port,
        )
        await supervisor.start(BrokerPart(broker))
        env["NDXP_KAFKA_BOOTSTRAP"] = broker.bootstrap
    engine = create_engine(settings.database_url)
    try:
        log.info("database at revision %s", await migrate(engine))
        demo_client = await demo.seed_identity(settings, engine)
    finally:
        await engine.dispose()
    ready_file = settings.data_dir / READY_FILE
    ready_file.parent.mkdir(parents=True, exist_ok=True)
    ready_file.unlink(missing_ok=True)
    env["NDXP_READY_AFTER"] = str(ready_file)  # a restarted service finds it: ready at once
    env["NDXP_MIGRATE_ON_START"] = "false"  # done once above, not raced by three services
    ports = {name: getattr(args, f"{name}_port") or SERVICES[name][1]().port for name in SERVICES}
    # The gateway's URL: its tokens name it and the other services fetch its JWKS from it.
    host = "127.0.0.1" if args.host in {"0.0.0.0", "::"} else args.host
    env.setdefault("NDXP_AUTH_ISSUER", f"http://{host}:{ports['gateway']}")
    env.setdefault("NDXP_GATEWAY_REGISTRY_URL", f"http://{host}:{ports['registry']}")
    env.setdefault("NDXP_CONNECT_REGISTRY_URL", f"http://{host}:{ports['registry']}")
    urls = {name: f"http://{host}:{port}" for name, port in ports.items()}
    await supervisor.start(*(ServicePart(name, args.host, ports[name], env) for name in SERVICES))
    starting = asyncio.create_task(
        _finish_start(
            settings,
            urls,
            demo_client,
            ready_file=ready_file,
            within=args.ready_timeout,
            supervisor=supervisor,
        )
    )
    try:
        return await supervisor.supervise()
    finally:
        starting.cancel()


async def _finish_start(
    settings: ServiceSettings,
    urls: dict[str, str],
    demo_client: dict[str, str] | None,
    *,
    ready_file: Path,
    within: float,
    supervisor: Supervisor,
) -> None:
    """Seed the demo once the services serve, then let them (and ``ndxp up``) say ready."""
    try:
        await _wait_ready(urls, within, but=STARTUP)
        if demo_client is not None:
            await demo.seed_dataset(urls["gateway"], demo_client)
            log.info(
                "demo agency %r, dataset %s.%s; client credentials in %s",
                demo.AGENCY, demo.AGENCY, demo.DATASET, demo.credentials_file(settings),
            )  # fmt: skip
        await asyncio.to_thread(ready_file.touch)
        await _wait_ready(urls, within)
    except Exception as exc:  # noqa: BLE001 - whatever it was, the hub is not up: say why
        supervisor.fail(f"the hub did not start: {exc}")
        return
    log.info("ndxp is up: %s", ", ".join(f"{name} {url}" for name, url in urls.items()))


async def _wait_ready(urls: dict[str, str], within: float, but: str | None = None) -> None:
    """Until every service's ``/readyz`` passes all its checks (``but`` that one)."""
    deadline = time.monotonic() + within
    pending = dict(urls)
    async with httpx.AsyncClient(timeout=5.0) as client:
        while pending and time.monotonic() < deadline:
            for name, url in list(pending.items()):
                if await _ready(client, url, but):
                    del pending[name]
            await asyncio.sleep(0.3)
    if pending:
        raise TimeoutError(f"not ready after {within:.0f} s: {', '.join(pending)}")


async def _ready(client: httpx.AsyncClient, url: str, but: str | None) -> bool:
    try:
        answer = await client.get(f"{url}/readyz")
    except httpx.TransportError:
        return False
    if answer.status_code == 200:  # noqa: PLR2004
        return True
    checks = answer.json().get("checks", {}) if answer.status_code == 503 else {}  # noqa: PLR2004
    return bool(checks) and all(result == "ok" for name, result in checks.items() if name != but)
