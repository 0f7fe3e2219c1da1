"""Connect workers as real ``ndxp connect`` processes, so a test can SIGKILL one."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from services.core.config import ConnectSettings
from services.core.local_kafka import free_port

START_SECONDS = 60.0


@dataclass
class WorkerProcess:
    """One ``ndxp connect`` process of a group; ``url`` is its REST API."""

    env: dict[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        env = {**self.env, "NDXP_CONNECT_PORT": str(self.port)}
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "connect"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        async with httpx.AsyncClient() as http, asyncio.timeout(START_SECONDS):
            while True:
                assert self.process.poll() is None, self.log.read_text()[-3000:]
                try:
                    if (await http.get(f"{self.url}/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no leaving the group, nothing flushed."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def worker_env(settings: ConnectSettings) -> dict[str, str]:
    """The environment that makes ``ndxp connect`` a worker of ``settings``' group."""
    assert settings.kafka.bootstrap is not None
    return {
        **os.environ,
        "NDXP_KAFKA_BOOTSTRAP": settings.kafka.bootstrap,
        "NDXP_DATA_DIR": str(settings.data_dir),
        "NDXP_CONNECT_FILE_BASE_DIRS": ",".join(str(path) for path in settings.file_dirs),
        "NDXP_AUTH_REQUIRE_TOKENS": "false",
        "NDXP_CONNECT_REGISTRY_URL": settings.registry_url,
        "NDXP_CONNECT_CONFIGS_TOPIC": settings.configs_topic,
        "NDXP_CONNECT_OFFSETS_TOPIC": settings.offsets_topic,
        "NDXP_CONNECT_STATUS_TOPIC": settings.status_topic,
        "NDXP_CONNECT_SLOTS_TOPIC": settings.slots_topic,
        "NDXP_CONNECT_GROUP": settings.group,
        "NDXP_CONNECT_SESSION_TIMEOUT_MS": str(settings.session_timeout_ms),
        "NDXP_CONNECT_RETRY_ATTEMPTS": "5",
        "NDXP_CONNECT_RETRY_BACKOFF": "0.1",
        "NDXP_LOG_LEVEL": "INFO",
    }


@asynccontextmanager
async def workers(processes: Sequence[WorkerProcess]) -> AsyncIterator[None]:
    """Stops every process of ``processes`` at the end, also those started inside the block (pass
    the list they are added to); on a failure prints the end of each one's log first."""
    try:
        yield
    except BaseException:
        for process in processes:  # what the workers said, for the failure report
            print(f"--- {process.log}:\n{process.log.read_text()[-4000:]}")  # noqa: T201
        raise
    finally:
        for process in processes:
            process.stop()
