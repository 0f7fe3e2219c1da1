"""The parts ``ndxp up`` runs and can start again: the local broker and the three services."""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Protocol

from services.core.config import (
    ConnectSettings,
    GatewaySettings,
    RegistrySettings,
    ServiceSettings,
)
from services.core.local_kafka import LocalKafka, die_with_parent

log = logging.getLogger("ndxp.up")

# Each service: the module of its app factory and its settings.
SERVICES: dict[str, tuple[str, type[ServiceSettings]]] = {
    "registry": ("services.registry.app", RegistrySettings),
    "gateway": ("services.gateway.app", GatewaySettings),
    "connect": ("services.connectors.app", ConnectSettings),
}


class Part(Protocol):
    """A process of the hub that the supervisor watches and restarts."""

    @property
    def name(self) -> str: ...

    async def start(self) -> None:
        """Start it (again); raises if it cannot."""

    def exit_code(self) -> int | None:
        """None while it runs; its exit code (negative: the signal) once it has exited."""

    async def stop(self, grace: float) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; returns once it is gone."""


def describe_exit(code: int) -> str:
    """``exit code 1`` or ``signal SIGKILL``."""
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


@dataclass
class ServicePart:
    """``python -m services.cli <service>`` on its port, with the same environment every start."""

    name: str
    host: str
    port: int
    env: dict[str, str]
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    async def start(self) -> None:
        argv = [sys.executable, "-m", "services.cli", self.name]
        self._process = subprocess.Popen(
            [*argv, "--host", self.host, "--port", str(self.port)],
            env=self.env,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
            # Its own session: Ctrl-C in the terminal reaches ``ndxp up`` alone, which then stops
            # the services in order.
            start_new_session=True,
        )

    def exit_code(self) -> int | None:
        return None if self._process is None else self._process.poll()

    async def stop(self, grace: float) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(process.wait, grace)
        except subprocess.TimeoutExpired:
            log.warning("%s ignored SIGTERM for %g s; killing it", self.name, grace)
            process.kill()
            await asyncio.to_thread(process.wait)


@dataclass
class BrokerPart:
    """The local Kafka broker: the same data dir and ports on every start."""

    kafka: LocalKafka
    name: str = "kafka"

    async def start(self) -> None:
        await self.kafka.start()

    def exit_code(self) -> int | None:
        return self.kafka.exit_code

    async def stop(self, grace: float) -> None:
        await asyncio.to_thread(self.kafka.stop, grace)
