"""What every ndxp benchmark needs: a Kafka, a service in its own process, a load generator."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx

from services.core.config import KafkaSettings
from services.core.local_kafka import LocalKafka, free_port

BENCH_DIR = Path(__file__).resolve().parent
LOADGEN_DIR = BENCH_DIR / "loadgen"


@asynccontextmanager
async def kafka() -> AsyncIterator[str]:
    """``NDXP_KAFKA_BOOTSTRAP`` if set, else a local broker for the benchmark's duration."""
    if os.environ.get("NDXP_KAFKA_BOOTSTRAP"):
        yield os.environ["NDXP_KAFKA_BOOTSTRAP"]
        return
    with tempfile.TemporaryDirectory(prefix="ndxp-bench-kafka-") as work:
        broker = LocalKafka(KafkaSettings(bootstrap=None), Path(work))
        try:
            yield await broker.start()
        finally:
            broker.stop()


@contextmanager
def service(
    name: str,
    bootstrap: str,
    data_dir: Path,
    workers: int = 1,
    port: int | None = None,
    **env: str,
) -> Iterator[str]:
    """Run ``ndxp <name>`` as its own process(es); yields its base URL once it is ready."""
    with service_process(name, bootstrap, data_dir, workers, port, **env) as (url, _):
        yield url


@contextmanager
def service_process(
    name: str,
    bootstrap: str,
    data_dir: Path,
    workers: int = 1,
    port: int | None = None,
    **env: str,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """:func:`service`, yielding the process too (with one worker, the one serving: its CPU
    time is the service's, see :func:`cpu_seconds`)."""
    port = port or free_port()
    environment = {
        **os.environ,
        "NDXP_KAFKA_BOOTSTRAP": bootstrap,
        "NDXP_DATA_DIR": str(data_dir),
        "NDXP_LOG_LEVEL": "WARNING",
        **env,
    }
    argv = [
        sys.executable,
        "-m",
        "services.cli",
        name,
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    process = subprocess.Popen(argv, env=environment)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"ndxp {name} exited with {process.returncode}")
            try:
                if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"ndxp {name} was not ready in 60 s")
            time.sleep(0.2)
        yield url, process
    finally:
        process.terminate()
        process.wait(30)


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds the process ``pid`` has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def profiled(pid: int, seconds: int) -> Iterator[None]:
    """Record the process ``pid`` with py-spy (``pip install py-spy``) for ``seconds`` when
    BENCH_PROFILE names a file: a flame graph for ``.svg``, collapsed stacks otherwise."""
    target = os.environ.get("BENCH_PROFILE")
    if not target:
        yield
        return
    kind = "flamegraph" if target.endswith(".svg") else "raw"
    beside = Path(sys.executable).parent / "py-spy"  # the venv's, when it is not on PATH
    spy_bin = str(beside) if beside.exists() else "py-spy"
    argv = [spy_bin, "record", "-p", str(pid), "-o", target, "-f", kind, "-d", str(seconds)]
    spy = subprocess.Popen(argv)
    try:
        yield
    finally:
        spy.wait(60)


def measured(pid: int, seconds: int, *loadgen: str) -> tuple[dict[str, Any], float]:
    """The load generator's figures for ``seconds`` of ``loadgen`` against the process ``pid``,
    and the CPU seconds that process used meanwhile (recorded, see :func:`profiled`)."""
    before = cpu_seconds(pid)
    with profiled(pid, seconds):
        result = run_loadgen(*loadgen, "-d", f"{seconds}s")
    return result, cpu_seconds(pid) - before


def door_env(gateway_port: int, registry_port: int | None = None) -> dict[str, str]:
    """The gateway's issuer at ``gateway_port`` (and its registry at ``registry_port``), and no
    per-client request limit: a benchmark measures the path, not the limit."""
    env = {
        "NDXP_AUTH_ISSUER": f"http://127.0.0.1:{gateway_port}",
        "NDXP_AUTH_RATE_LIMIT_PER_SECOND": "1000000",
        "NDXP_AUTH_RATE_LIMIT_BURST": "1000000",
    }
    if registry_port is not None:
        env["NDXP_GATEWAY_REGISTRY_URL"] = f"http://127.0.0.1:{registry_port}"
    return env


def per_request(result: dict[str, Any], cpu_used: float) -> dict[str, Any]:
    """The load generator's figures, with the CPU milliseconds the service spent per request."""
    figures = {key: value for key, value in result.items() if key not in ("mode", "clients")}
    figures["cpu_ms_per_request"] = 1000 * cpu_used / max(result["requests"], 1)
    figures["cpu_cores_busy"] = cpu_used / result["seconds"]
    return figures


def ndxp(data_dir: Path, *args: str) -> str:
    """Run an ``ndxp`` command against the benchmark's control plane; its standard output."""
    environment = {**os.environ, "NDXP_DATA_DIR": str(data_dir), "NDXP_LOG_LEVEL": "WARNING"}
    argv = [sys.executable, "-m", "services.cli", *args]
    return subprocess.run(argv, env=environment, capture_output=True, text=True, check=True).stdout


def credentials(output: str) -> tuple[str, str]:
    """The client id and secret ``ndxp clients create`` printed."""
    fields = dict(line.split(": ", 1) for line in output.splitlines() if ": " in line)
    return fields["client_id"], fields["client_secret"]


def hub_identity(data: Path) -> tuple[str, str]:
    """The benchmark's agency and a client that may create datasets and publish, on a control
    plane made first (the identity commands never create one)."""
    ndxp(data, "db", "migrate")
    ndxp(data, "agencies", "create", "bench", "--name", "Benchmark", "--kind", "other")
    scopes = ("publish", "registry:write", "catalog:read")
    flags = [part for scope in scopes for part in ("--scope", scope)]
    return credentials(ndxp(data, "clients", "create", "bench", "--name", "bench", *flags))


def loadgen_binary() -> Path:
    """Build the Go load generator (standard library only) once into a temp dir."""
    return go_binary(LOADGEN_DIR)


def go_binary(source: Path) -> Path:
    """Build the Go program in ``source`` (a benchmark's client) into a temp dir."""
    go = shutil.which("go")
    if go is None:
        raise RuntimeError(f"the benchmark's {source.name} needs Go (https://go.dev) on PATH")
    target = Path(tempfile.gettempdir()) / f"ndxp-{source.name}"
    subprocess.run([go, "build", "-o", str(target), "."], cwd=source, check=True)
    return target


def run_loadgen(*args: str) -> dict[str, Any]:
    out = subprocess.run([str(loadgen_binary()), *args], capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def report(title: str, figures: dict[str, Any]) -> None:
    print(f"{title}:")
    for key, value in figures.items():
        print(f"  {key:>22}: {value:,.2f}" if isinstance(value, float) else f"  {key:>22}: {value}")


def run(main: Any) -> None:
    asyncio.run(main())
