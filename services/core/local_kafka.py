"""Fetch and run a single-node Apache Kafka broker (KRaft, combined broker + controller).

Used by ``ndxp up`` and by the test suite. The jars are resolved once into
``<cache_dir>/kafka-<version>/libs`` with Maven (``deploy/local/kafka/pom.xml``), or taken from the
official binary tarball where Maven is missing. The broker runs as a child ``java`` process that
dies with its parent (``PR_SET_PDEATHSIG``), logs to a file, and is stopped with SIGTERM, then
SIGKILL after a timeout. While it runs, ``broker.json`` in its directory names its bootstrap
address and process, so a command on the same data dir finds it (:func:`running_broker`), and the
port of its metrics.

The broker runs with the Prometheus JMX exporter agent
(``io.prometheus.jmx:jmx_prometheus_javaagent``, resolved by the same pom into
``<cache_dir>/jmx-exporter-<version>``), which serves the broker's own metrics over HTTP under the
rules of ``deploy/monitoring/jmx/kafka-broker.yml``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ctypes
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaClient
from aiokafka.errors import KafkaError

from services.core.config import KafkaSettings
from services.core.errors import NdxpError
from services.core.files import private_dir

log = logging.getLogger(__name__)

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
POM = DEPLOY / "local" / "kafka" / "pom.xml"
JMX_RULES = DEPLOY / "monitoring" / "jmx" / "kafka-broker.yml"
TARBALL_URL = "https://archive.apache.org/dist/kafka/{v}/kafka_2.13-{v}.tgz"
JMX_EXPORTER_VERSION = "1.0.1"  # the pom's default too; one version, asked of Maven by name
JMX_EXPORTER_URL = (
    "https://repo1.maven.org/maven2/io/prometheus/jmx/jmx_prometheus_javaagent/{v}/"
    "jmx_prometheus_javaagent-{v}.jar"
)
MIN_JAVA = 17
_PR_SET_PDEATHSIG = 1
BROKER_FILE = "broker.json"  # in the broker's directory while it runs
_FIND_TIMEOUT = 5.0  # seconds a found broker has to answer

LOG4J2 = """\
status = warn
appender.file.type = Console
appender.file.name = STDOUT
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
"""


class KafkaLaunchError(NdxpError):
    """The local broker could not be fetched or started; the message says why and what to do."""

    code = "kafka_launch_failed"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def broker_properties(
    data_dir: Path, *, host: str, port: int, controller_port: int, node_id: int = 1
) -> dict[str, str]:
    """The ``server.properties`` of a one-node KRaft cluster: broker and controller in one JVM."""
    return {
        "process.roles": "broker,controller",
        "node.id": str(node_id),
        "controller.quorum.voters": f"{node_id}@{host}:{controller_port}",
        "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{host}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(data_dir),
        # One node: every internal topic has one replica, and nothing waits for a second.
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "10",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "min.insync.replicas": "1",
        "group.initial.rebalance.delay.ms": "0",
        "num.partitions": "1",
        # Topics are created deliberately (datasets, audit, DLQs), never by a typo.
        "auto.create.topics.enable": "false",
    }


def render_properties(props: dict[str, str]) -> str:
    return "".join(f"{key}={value}\n" for key, value in props.items())


def java_major_version(java: str) -> int:
    """The major version of ``java`` (17 for ``openjdk version "17.0.15"``)."""
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=True).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        raise KafkaLaunchError(f"cannot read the Java version from: {out.strip()!r}")
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def find_java() -> str:
    java = shutil.which("java")
    if java is None:
        raise KafkaLaunchError(f"Java {MIN_JAVA}+ is required to run Kafka and was not found")
    version = java_major_version(java)
    if version < MIN_JAVA:
        raise KafkaLaunchError(f"Java {MIN_JAVA}+ is required to run Kafka; {java} is {version}")
    return java


def ensure_kafka(settings: KafkaSettings) -> Path:
    """The directory of the broker's jars, fetching them on first use."""
    return _ensure_cached(
        settings.cache_dir / f"kafka-{settings.version}",
        what=f"kafka {settings.version}",
        with_maven=lambda target: _fetch_with_maven(
            target, scope="runtime", properties={"kafka.version": settings.version}
        ),
        with_curl=lambda target: _fetch_tarball(settings.version, target),
    )


def ensure_jmx_exporter(settings: KafkaSettings) -> Path:
    """The Prometheus JMX exporter agent's jar, fetching it on first use."""
    version = JMX_EXPORTER_VERSION
    jars = _ensure_cached(
        settings.cache_dir / f"jmx-exporter-{version}",
        what=f"jmx_prometheus_javaagent {version}",
        with_maven=lambda target: _fetch_with_maven(
            target, scope="provided", properties={"jmx.exporter.version": version}
        ),
        with_curl=lambda target: _curl(
            JMX_EXPORTER_URL.format(v=version), target / f"jmx_prometheus_javaagent-{version}.jar"
        ),
    )
    return jars / f"jmx_prometheus_javaagent-{version}.jar"


def _ensure_cached(
    home: Path,
    *,
    what: str,
    with_maven: Callable[[Path], None],
    with_curl: Callable[[Path], None],
) -> Path:
    """``home/libs``, filled once by Maven (or curl where Maven is missing) through a staging
    directory, so an interrupted fetch never leaves half a set behind."""
    libs = home / "libs"
    if (home / ".complete").exists():
        return libs
    home.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="libs-", dir=home))
    try:
        if shutil.which("mvn") and POM.exists():
            with_maven(staging)
        elif shutil.which("curl"):
            with_curl(staging)
        else:
            raise KafkaLaunchError(f"fetching {what} needs Maven (mvn) or curl; neither was found")
        if libs.exists():
            shutil.rmtree(libs)
        staging.rename(libs)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    (home / ".complete").write_text(what + "\n")
    log.info("%s fetched into %s", what, libs)
    return libs


def _fetch_with_maven(target: Path, *, scope: str, properties: dict[str, str]) -> None:
    """The pom's dependencies of ``scope`` (runtime: the broker; provided: the agent)."""
    log.info("fetching %s with Maven into %s", properties, target)
    cmd = [
        "mvn",
        "-q",
        "-B",
        "-f",
        str(POM),
        "dependency:copy-dependencies",
        *(f"-D{key}={value}" for key, value in properties.items()),
        f"-DincludeScope={scope}",
        f"-DoutputDirectory={target}",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise KafkaLaunchError(f"mvn failed to fetch {properties}:\n{result.stdout[-4000:]}")


def _curl(url: str, target: Path) -> None:
    log.info("fetching %s", url)
    subprocess.run(["curl", "-fsSL", "-o", str(target), url], check=True)


def _fetch_tarball(version: str, target: Path) -> None:
    url = TARBALL_URL.format(v=version)
    archive = target / "kafka.tgz"
    _curl(url, archive)
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if "/libs/" in m.name and m.name.endswith(".jar")]
        for member in members:
            member.name = Path(member.name).name
        tar.extractall(target, members=members, filter="data")
    archive.unlink()


def die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


async def wait_until_ready(bootstrap: str, within: float) -> None:
    """Return once the cluster at ``bootstrap`` answers a metadata request naming a broker."""
    deadline = time.monotonic() + within
    # A starting broker refuses connections for a few seconds; aiokafka logs each refusal as an
    # ERROR, which is noise here: the outcome is reported below.
    with _quiet("aiokafka"):
        while time.monotonic() < deadline:
            if await _answers(bootstrap):
                return
            await asyncio.sleep(0.3)
    raise KafkaLaunchError(f"Kafka at {bootstrap} did not answer in {within:.0f}s")


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


async def _answers(bootstrap: str) -> bool:
    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    try:
        await client.bootstrap()
        metadata = await client.fetch_all_metadata()
        return bool(metadata.brokers())
    except (KafkaError, OSError):
        return False
    finally:
        await client.close()


def local_broker_dir(data_dir: Path) -> Path:
    """Where ``ndxp up`` keeps the broker of a data dir."""
    return data_dir / "kafka"


async def running_broker(work_dir: Path, within: float = _FIND_TIMEOUT) -> str | None:
    """The bootstrap address of the broker running in ``work_dir``, if its process lives and it
    answers; None otherwise (never started, stopped, or killed leaving its file behind)."""
    try:
        found = json.loads((work_dir / BROKER_FILE).read_text())
        bootstrap, pid = str(found["bootstrap"]), int(found["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # alive, another user's
        pass
    with _quiet("aiokafka"):
        try:
            answers = await asyncio.wait_for(_answers(bootstrap), within)
        except TimeoutError:
            return None
    return bootstrap if answers else None


@dataclass
class LocalKafka:
    """A single-node KRaft broker in ``work_dir``; start and stop it as often as needed."""

    settings: KafkaSettings
    work_dir: Path
    host: str = "127.0.0.1"
    port: int = 0
    controller_port: int = 0
    jmx_port: int | None = 0  # the metrics exporter's; 0 picks a free one, None runs none
    _process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def metrics_url(self) -> str | None:
        """Where the JMX exporter serves the broker's metrics (None: run without it)."""
        return None if self.jmx_port is None else f"http://{self.host}:{self.jmx_port}/metrics"

    @property
    def log_file(self) -> Path:
        return self.work_dir / "broker.log"

    @property
    def data_dir(self) -> Path:
        return self.work_dir / "data"

    @property
    def broker_file(self) -> Path:
        return self.work_dir / BROKER_FILE

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def exit_code(self) -> int | None:
        """The exit code of a broker that exited by itself (negative: the signal); None while it
        runs, and before a start or after :meth:`stop`."""
        return None if self._process is None else self._process.poll()

    def prepare(self) -> list[str]:
        """Fetch jars, write the configuration, format storage once; return the java argv."""
        java = find_java()
        libs = ensure_kafka(self.settings)
        self.port = self.port or free_port(self.host)
        self.controller_port = self.controller_port or free_port(self.host)
        private_dir(self.work_dir)  # the broker's log dirs hold every dataset's events
        props = broker_properties(
            self.data_dir, host=self.host, port=self.port, controller_port=self.controller_port
        )
        config = self.work_dir / "server.properties"
        config.write_text(render_properties(props))
        log4j = self.work_dir / "log4j2.properties"
        log4j.write_text(LOG4J2)
        base = [java, f"-Dlog4j2.configurationFile={log4j}", "-cp", f"{libs}/*"]
        if not (self.data_dir / "meta.properties").exists():
            cluster_id = _cluster_id()
            fmt = [*base, "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}",
                   f"--config={config}"]  # fmt: skip
            result = subprocess.run(fmt, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                output = (result.stderr + result.stdout)[-3000:]
                raise KafkaLaunchError(f"formatting Kafka storage failed:\n{output}")
        heap = self.settings.heap
        return [
            java,
            f"-Xmx{heap}",
            f"-Xms{heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            *self.agent_args(),
            *base[1:],
            "kafka.Kafka",
            str(config),
        ]

    def agent_args(self) -> list[str]:
        """The java options that load the metrics exporter (none where it is off)."""
        if self.jmx_port is None:
            return []
        try:
            agent = ensure_jmx_exporter(self.settings)
        except (KafkaLaunchError, subprocess.CalledProcessError) as exc:
            raise KafkaLaunchError(
                f"{exc}\n(NDXP_KAFKA_JMX_PORT=off runs the broker without its metrics exporter)"
            ) from exc
        self.jmx_port = self.jmx_port or free_port(self.host)
        return [f"-javaagent:{agent}={self.host}:{self.jmx_port}:{JMX_RULES}"]

    async def start(self) -> str:
        """Start the broker and wait until it serves metadata; returns its bootstrap address."""
        if self.running:
            return self.bootstrap
        argv = await asyncio.to_thread(self.prepare)
        with self.log_file.open("ab") as out:
            self._process = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent,
                start_new_session=True,
            )
        log.info("kafka broker starting on %s (log: %s)", self.bootstrap, self.log_file)
        try:
            await self._wait_started()
        except BaseException:
            self.stop()
            raise
        assert self._process is not None  # noqa: S101 - started above
        found = {"bootstrap": self.bootstrap, "pid": self._process.pid, "jmx_port": self.jmx_port}
        self.broker_file.write_text(json.dumps(found))
        log.info("kafka broker ready on %s; its metrics: %s", self.bootstrap, self.metrics_url)
        return self.bootstrap

    async def _wait_started(self) -> None:
        waiter = asyncio.create_task(wait_until_ready(self.bootstrap, self.settings.start_timeout))
        while not waiter.done():
            if self._process is not None and self._process.poll() is not None:
                waiter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiter
                tail = self.log_file.read_text(errors="replace")[-3000:]
                raise KafkaLaunchError(f"the Kafka broker exited during start; its log:\n{tail}")
            await asyncio.sleep(0.2)
        waiter.result()

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (a clean, flushed shutdown), then SIGKILL if it is still there after timeout."""
        process, self._process = self._process, None
        if process is None:
            return
        self.broker_file.unlink(missing_ok=True)
        if process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("kafka broker ignored SIGTERM for %.0fs; killing it", timeout)
            process.kill()
            process.wait()
        log.info("kafka broker stopped")


def _cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes in URL-safe base64 without padding.

    Like Kafka's own ``Uuid.randomUuid``, never one starting with ``-``, which a command line
    would read as an option.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id
