"""``ndxp monitor``: Prometheus and Alertmanager watching the hub ``ndxp up`` runs on this data dir.

It renders ``deploy/monitoring/prometheus.yml`` into ``<data dir>/monitoring/`` with the target
files of this hub (the three services on their ports, the local broker's JMX exporter as
``broker.json`` names it, Prometheus itself, the Alertmanager), the rules of
``deploy/monitoring/rules/`` and a ``metrics:read`` token; renders
``deploy/monitoring/alertmanager.yml`` beside it; runs Debian's ``prometheus-alertmanager`` and
``prometheus`` on them until SIGINT or SIGTERM, and renews the token before it expires. The same
rendering serves the tests, which start a real Prometheus against a hub from ``ndxp up``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import yaml

from services.core.auth.principal import METRICS_READ
from services.core.cli import credentials
from services.core.cli.errors import SET_UP, CommandError
from services.core.config import ServiceSettings
from services.core.files import private_dir, write_private
from services.core.local_kafka import BROKER_FILE, DEPLOY, die_with_parent, local_broker_dir
from services.core.logging import configure_logging
from services.hub.parts import SERVICES

log = logging.getLogger("ndxp.monitor")

PROMETHEUS_CONFIG = DEPLOY / "monitoring" / "prometheus.yml"
ALERTMANAGER_CONFIG = DEPLOY / "monitoring" / "alertmanager.yml"
RULES_DIR = DEPLOY / "monitoring" / "rules"
TOKEN_FILE = Path("secrets") / "metrics-token"  # as prometheus.yml names it
BROKER_JOB = "kafka-broker"
PROMETHEUS_JOB = "prometheus"
ALERTMANAGER_TARGETS = "alertmanager"  # targets/alertmanager.json, as prometheus.yml names it
RENEW_SHARE = 3  # the token is renewed when a third of its lifetime has gone


def service_job(service: str) -> str:
    return f"ndxp-{service}"


def add_parser(commands: Any) -> None:
    """The ``monitor`` command's parser, under ``ndxp``'s ``commands``."""
    cmd = commands.add_parser(
        "monitor", help="run Prometheus and Alertmanager against the local hub (ndxp up)"
    )
    cmd.add_argument("--host", default="127.0.0.1", help="where the hub's services listen")
    cmd.add_argument("--port", type=int, default=9090, help="Prometheus's port (on 127.0.0.1)")
    cmd.add_argument("--prometheus", default="prometheus", help="the Prometheus binary")
    cmd.add_argument(
        "--scrape-interval", help="scrape and rule evaluation interval instead of 15s (e.g. 2s)"
    )
    cmd.add_argument(
        "--alertmanager-port", type=int, default=9093, help="Alertmanager's port (on 127.0.0.1)"
    )
    cmd.add_argument(
        "--alertmanager", default="prometheus-alertmanager", help="the Alertmanager binary"
    )
    cmd.add_argument("--webhook-url", help="where Alertmanager posts alerts (else the placeholder)")
    credentials.add_options(cmd)


def hub_targets(settings: ServiceSettings, host: str, prometheus: str) -> dict[str, list[str]]:
    """Each job's ``host:port`` targets for the hub of ``settings``' data dir."""
    targets = {
        service_job(name): [f"{host}:{service_settings().port}"]
        for name, (_, service_settings) in SERVICES.items()
    }
    targets[PROMETHEUS_JOB] = [prometheus]
    try:
        broker = json.loads((local_broker_dir(settings.data_dir) / BROKER_FILE).read_text())
    except (OSError, ValueError):
        broker = {}  # no local broker (NDXP_KAFKA_BOOTSTRAP): its exporter is someone else's
    jmx_port = broker.get("jmx_port")
    targets[BROKER_JOB] = [f"{host}:{jmx_port}"] if jmx_port else []
    return targets


def write_config(
    directory: Path,
    targets: dict[str, list[str]],
    token: str,
    *,
    scrape_interval: str | None = None,
    alertmanagers: list[str] | None = None,
) -> Path:
    """``directory/prometheus.yml`` (deploy/'s, the scrape and evaluation interval changed if
    asked), its target files, rules and token file; returns the configuration's path."""
    private_dir(directory)
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    if scrape_interval is not None:
        config["global"]["scrape_interval"] = scrape_interval
        config["global"]["scrape_timeout"] = scrape_interval
        config["global"]["evaluation_interval"] = scrape_interval
    path = _render(directory / "prometheus.yml", PROMETHEUS_CONFIG, config)
    (directory / "targets").mkdir(exist_ok=True)
    for job, hosts in {**targets, ALERTMANAGER_TARGETS: alertmanagers or []}.items():
        groups = [{"targets": hosts, "labels": {}}] if hosts else []
        (directory / "targets" / f"{job}.json").write_text(json.dumps(groups, indent=2) + "\n")
    rules = directory / "rules"
    shutil.rmtree(rules, ignore_errors=True)  # a rule file deleted from deploy/ goes here too
    shutil.copytree(RULES_DIR, rules)
    write_private(directory / TOKEN_FILE, token)
    return path


def write_alertmanager_config(directory: Path, webhook_url: str | None = None) -> Path:
    """``directory/alertmanager.yml``: deploy/'s, its webhook receiver's URL replaced if given."""
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    if webhook_url is not None:
        for receiver in config["receivers"]:
            for webhook in receiver.get("webhook_configs", []):
                webhook["url"] = webhook_url
    return _render(directory / "alertmanager.yml", ALERTMANAGER_CONFIG, config)


def _render(path: Path, source: Path, config: Any) -> Path:
    header = f"# Rendered by `ndxp monitor` from {source}; edit that one.\n"
    path.write_text(header + yaml.safe_dump(config, sort_keys=False))
    return path


def alertmanager_argv(binary: str, config: Path, port: int) -> list[str]:
    storage = f"--storage.path={config.parent / 'alertmanager-data'}"
    # one instance: no gossip port to bind
    return _argv(binary, config, port, storage, "--cluster.listen-address=")


def prometheus_argv(binary: str, config: Path, port: int) -> list[str]:
    storage = f"--storage.tsdb.path={config.parent / 'data'}"
    return _argv(binary, config, port, storage, "--storage.tsdb.retention.time=7d")


def _argv(binary: str, config: Path, port: int, *options: str) -> list[str]:
    return [binary, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}", *options]


async def monitor(args: argparse.Namespace) -> int:
    """Run Alertmanager and Prometheus until SIGINT or SIGTERM (0), or until either exits by
    itself (1)."""
    settings = ServiceSettings()
    configure_logging(settings.log)
    binary = _binary(args.prometheus, "prometheus")
    alertmanager = _binary(args.alertmanager, "prometheus-alertmanager")
    caller = credentials.resolve(args, settings.data_dir, os.environ)
    token = await asyncio.to_thread(credentials.issue_token, caller, METRICS_READ)
    directory = settings.data_dir / "monitoring"
    targets = hub_targets(settings, args.host, f"127.0.0.1:{args.port}")
    alerts_to = f"127.0.0.1:{args.alertmanager_port}"
    config = write_config(
        directory,
        targets,
        token,
        scrape_interval=args.scrape_interval,
        alertmanagers=[alerts_to],
    )
    am_config = write_alertmanager_config(directory, args.webhook_url)
    am_process = _start(alertmanager_argv(alertmanager, am_config, args.alertmanager_port))
    log.info("alertmanager on http://%s (%s)", alerts_to, am_config)
    process = _start(prometheus_argv(binary, config, args.port))
    log.info("prometheus on http://127.0.0.1:%d scraping %s", args.port, targets)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    renew_every = settings.auth.token_lifetime / RENEW_SHARE
    try:
        while process.poll() is None and am_process.poll() is None and not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), renew_every)
            if not stop.is_set():
                await _renew(caller, directory)
    finally:
        for each in (process, am_process):
            if each.poll() is None:
                each.terminate()
                await asyncio.to_thread(each.wait)
    if not stop.is_set():
        log.error(
            "prometheus (%s) or alertmanager (%s) exited by itself",
            process.returncode,
            am_process.returncode,
        )
        return 1
    return 0


def _binary(name: str, package: str) -> str:
    binary = shutil.which(name)
    if binary is None:
        raise CommandError(f"{name} not found: install it (apt-get install {package})", SET_UP)
    return binary


def _start(argv: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent, start_new_session=True
    )


async def _renew(caller: credentials.Credentials, directory: Path) -> None:
    try:
        token = await asyncio.to_thread(credentials.issue_token, caller, METRICS_READ)
    except CommandError as exc:  # the gateway is down for now: scrapes fail, up == 0 says so
        log.warning("could not renew the metrics token: %s", exc.message)
        return
    write_private(directory / TOKEN_FILE, token)
