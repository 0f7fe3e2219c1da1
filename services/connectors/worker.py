"""The worker: Kafka Connect's rules for connectors, over state every worker of a group shares.

What is wanted lives in the configs topic (a connector's config, its target state, restart
requests); who runs a connector is decided by the group (:mod:`services.connectors.group`); what
each connector is doing is published to the status topic by the worker running it. Any worker
answers any request: a write goes to the configs topic, and the worker holding the connector's slot
acts on it when it sees it (:meth:`Worker.reconcile`). A worker that runs alone holds every slot,
and acts on its own writes before answering.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from services.connectors.configs import ConfigInvalid, ConnectorConfig, parse_config
from services.connectors.group import slot_of
from services.connectors.guard_rails import GuardRails
from services.connectors.metrics import RESTARTS, known_connector, set_status
from services.connectors.runtime import Run, Runtime
from services.connectors.secrets import MASK, masked_config, masked_text
from services.connectors.sink import sink_offsets
from services.connectors.store import TopicTable
from services.core.errors import BadRequest, Conflict, NotFound
from services.core.kafka.connect_configs import (
    CONNECTOR,
    RESTART,
    TARGET,
    connector_records,
    deletion_records,
)
from services.core.kafka.topics import check_connector, connector_group

log = logging.getLogger(__name__)

STATUS_FLUSH_SECONDS: Final = 5.0


class ConnectorExists(Conflict):
    code = "connector_exists"
    title = "Connector exists"


class ConnectorNotFound(NotFound):
    code = "connector_not_found"
    title = "Connector not found"


class SinkOffsets(BadRequest):
    code = "sink_offsets"
    title = "Sink offsets are a consumer group's"


class NotStopped(Conflict):
    code = "connector_not_stopped"
    title = "Connector not stopped"


@dataclass
class Worker:
    runtime: Runtime
    configs: TopicTable
    statuses: TopicTable
    rails: GuardRails | None = None  # None: no rails (a worker built by a unit test)
    runs: dict[str, Run] = field(default_factory=dict)
    held: frozenset[int] = frozenset()
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _pending: asyncio.Task[None] | None = None
    _status_queue: asyncio.Queue[tuple[str, dict[str, Any] | None]] = field(
        default_factory=asyncio.Queue
    )
    _status_writer: asyncio.Task[None] | None = None
    _dirty: bool = False
    _closed: bool = False
    _writes: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def worker_id(self) -> str:
        return self.runtime.worker_id

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Follow the configs topic; the group then tells :meth:`assign` what to run."""
        self._status_writer = asyncio.create_task(self._write_statuses(), name="connect-status")
        self.configs.listeners.append(self._changed)

    async def close(self) -> None:
        self._closed = True
        await self.assign(frozenset())
        if self._pending is not None:
            self._pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pending
        with contextlib.suppress(TimeoutError):  # Kafka away: the statuses are informative
            async with asyncio.timeout(STATUS_FLUSH_SECONDS):
                await self._status_queue.join()
        if self._status_writer is not None:
            self._status_writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._status_writer

    async def assign(self, slots: frozenset[int]) -> None:
        """The group gave this worker ``slots``: run exactly their connectors."""
        self.held = slots
        log.info("worker %s holds %d slot(s) of the group", self.worker_id, len(slots))
        await self.reconcile()

    def _changed(self, key: str) -> None:
        if self._closed or not key.startswith((CONNECTOR, TARGET, RESTART)):
            return
        self._dirty = True  # a reconcile running now may have read the configs before this
        if self._pending is None or self._pending.done():
            self._pending = asyncio.create_task(self._drain(), name="connect-reconcile")

    async def _drain(self) -> None:
        while self._dirty and not self._closed:
            self._dirty = False
            await self.reconcile()

    async def reconcile(self) -> None:
        """Start, change, stop connectors until what runs here is what the configs say."""
        async with self._lock:
            wanted = {name for name in self.names() if slot_of(name) in self.held}
            for name in [name for name in self.runs if name not in wanted]:
                run = self.runs.pop(name)
                await self.halt(run)
                set_status(name, None)
                if self.configs.get(CONNECTOR + name) is None:  # deleted: no status survives it
                    self._publish(name, None)
            for name in sorted(wanted):
                try:
                    await self._settle(name)
                except Exception:  # one connector's trouble must not stop the others
                    log.exception("connector %s could not be started", name)

    async def _settle(self, name: str) -> None:
        stored = self.configs.get(CONNECTOR + name)
        if stored is None:  # deleted since the reconcile began: the next one stops it
            return
        raw = stored["config"]
        target = self.target(name)
        restart = self.configs.get(RESTART + name)
        run = self.runs.get(name)
        if run is not None and run.config.raw == raw and run.restart == restart:
            if run.target != target:
                await self._retarget(run, target)
            return
        if run is not None:
            await self.halt(run)
            RESTARTS.labels(name, "requested" if run.config.raw == raw else "config").inc()
        try:  # this worker's rails too: a config stored before them, or by a worker without them
            config = self.check(raw)
        except ConfigInvalid as exc:  # a stored config the installed plugins no longer accept
            self.runs.pop(name, None)
            self._publish(name, {"state": "FAILED", "trace": exc.message})
            return
        log.info("connector %s starts on worker %s (%s)", name, self.worker_id, target)
        self.runs[name] = self.launch(name, config, target, restart)

    def launch(self, name: str, config: Any, target: str, restart: Any = None) -> Run:
        known_connector(name, config.cls.kind)
        run = Run(name, config, on_state=self._on_state)
        run.restart = restart
        run.target = target
        if target == "STOPPED":
            run.set_state("STOPPED")
            return run
        if target == "RUNNING":
            run.running.set()
        run.set_state(target)
        # a context of its own: not the request's that may have started it (its span, its id)
        run.task = asyncio.create_task(
            self.runtime.run(run), name=f"connector-{name}", context=contextvars.Context()
        )
        return run

    async def _retarget(self, run: Run, target: str) -> None:
        run.target = target
        if target == "STOPPED":
            await self.halt(run)
            run.running.clear()
            run.set_state("STOPPED")
        elif run.state in ("STOPPED", "FAILED") or run.task is None:
            await self.halt(run)
            RESTARTS.labels(run.name, "resumed").inc()
            self.runs[run.name] = self.launch(run.name, run.config, target, run.restart)
        elif target == "PAUSED":
            run.running.clear()
            run.set_state("PAUSED")
        else:
            run.running.set()
            run.set_state("RUNNING")

    @staticmethod
    async def halt(run: Run) -> None:
        if run.task is not None:
            run.task.cancel()
            try:
                await run.task
            except asyncio.CancelledError:
                pass
            except Exception:  # a plugin's stop() failing must not stop the others' reconcile
                log.exception("connector %s did not stop cleanly", run.name)
            run.task = None

    # --- statuses ----------------------------------------------------------------------------

    def _on_state(self, run: Run) -> None:
        status: dict[str, Any] = {"state": run.state, "worker_id": self.worker_id}
        if run.trace:
            status["trace"] = run.trace
        self._publish(run.name, status)

    def _publish(self, name: str, status: dict[str, Any] | None) -> None:
        self._status_queue.put_nowait((name, status))

    async def _write_statuses(self) -> None:
        while True:
            name, status = await self._status_queue.get()
            try:
                if status is None or self.configs.get(CONNECTOR + name) is not None:
                    await self.statuses.put(name, status)
            except Exception:  # a status is informative: log it, keep the connector running
                log.warning("status of %s not written", name, exc_info=True)
            finally:
                self._status_queue.task_done()

    # --- what the REST API asks --------------------------------------------------------------

    async def sync(self) -> None:
        """Catch up with what any worker wrote before this call (read-your-writes across the
        group: a connector created through one worker is at once visible through another)."""
        await self.configs.sync()
        await self.statuses.sync()

    def names(self) -> list[str]:
        return sorted(
            key.removeprefix(CONNECTOR) for key in self.configs.rows if key.startswith(CONNECTOR)
        )

    def raw_config(self, name: str) -> Mapping[str, Any]:
        stored = self.configs.get(CONNECTOR + name)
        if stored is None:
            raise ConnectorNotFound(f"connector {name!r} not found")
        config: Mapping[str, Any] = stored["config"]
        return config

    def target(self, name: str) -> str:
        stored = self.configs.get(TARGET + name)
        return str(stored["state"]) if stored else "RUNNING"

    def config_of(self, name: str) -> dict[str, Any]:
        """The connector's config as the API shows it: secrets masked."""
        return masked_config(self.raw_config(name))

    def info(self, name: str) -> dict[str, Any]:
        raw = self.raw_config(name)
        return {
            "name": name,
            "config": masked_config(raw),
            "tasks": [{"connector": name, "task": 0}],
            "type": _kind(raw),
        }

    def status(self, name: str) -> dict[str, Any]:
        raw = self.raw_config(name)
        run = self.runs.get(name)
        if run is not None:
            state: dict[str, Any] = {"state": run.state, "worker_id": self.worker_id}
            if run.trace:
                state["trace"] = run.trace
        else:
            state = dict(self.statuses.get(name) or {"state": "UNASSIGNED", "worker_id": None})
        if isinstance(state.get("trace"), str):  # an exception may quote a URL with its secrets
            state["trace"] = masked_text(state["trace"])
        return {
            "name": name,
            "connector": state,
            "tasks": [{"id": 0, **state}],
            "type": _kind(raw),
        }

    async def create(self, name: str, raw: Mapping[str, Any]) -> dict[str, Any]:
        await self.sync()
        check_connector(name)
        check_unmasked(raw)
        async with self._writes:  # one worker never answers 201 twice for one name
            if self.configs.get(CONNECTOR + name) is not None:
                raise ConnectorExists(f"connector {name!r} already exists")
            self.check(raw)
            await self.configs.write(connector_records(name, raw))
        await self.reconcile()
        return self.info(name)

    async def put_config(self, name: str, raw: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        """Create or replace a connector's config; True if it was created."""
        await self.sync()
        if self.configs.get(CONNECTOR + name) is None:
            return await self.create(name, raw), True
        check_unmasked(raw)
        self.check(raw)
        await self.configs.put(CONNECTOR + name, {"config": dict(raw)})
        await self.reconcile()
        return self.info(name), False

    def check(self, raw: Mapping[str, Any]) -> ConnectorConfig:
        """``raw`` checked; :class:`ConfigInvalid` unless it is valid and within the rails."""
        config = parse_config(raw)
        errors = self.rails.errors(raw) if self.rails is not None else []
        if errors:
            raise ConfigInvalid(
                f"connector config has {len(errors)} error(s): {errors[0]['name']} "
                f"{errors[0]['message']}",
                errors=errors,
            )
        return config

    async def delete(self, name: str) -> None:
        await self.sync()
        self.raw_config(name)
        await self.configs.write(deletion_records(name))
        await self.reconcile()
        self._publish(name, None)

    async def set_target(self, name: str, target: str) -> None:
        await self.sync()
        self.raw_config(name)
        await self.configs.put(TARGET + name, {"state": target})
        await self.reconcile()

    async def restart(self, name: str) -> None:
        await self.sync()
        self.raw_config(name)
        await self.configs.put(RESTART + name, {"requested": str(uuid.uuid4())})
        await self.reconcile()

    async def offsets(self, name: str) -> dict[str, Any]:
        """Kafka Connect's shapes: a source's offset, or a sink's committed consumer offsets."""
        await self.sync()
        if _kind(self.raw_config(name)) == "sink":
            return {"offsets": await sink_offsets(self.runtime.kafka, name)}
        await self.runtime.offsets.sync()
        offset = self.runtime.offsets.get(name)
        entries = [] if offset is None else [{"partition": {"connector": name}, "offset": offset}]
        return {"offsets": entries}

    async def alter_offsets(self, name: str, offset: Mapping[str, Any] | None) -> None:
        """Set (or with None, reset) a stopped source connector's offset."""
        await self.sync()
        if _kind(self.raw_config(name)) == "sink":
            raise SinkOffsets(
                f"{name!r} is a sink: its offsets are those of consumer group "
                f"{connector_group(name)!r}; change them with Kafka's tools while it is stopped"
            )
        state = self.status(name)["connector"]["state"]
        if self.target(name) != "STOPPED" or state != "STOPPED":
            raise NotStopped(
                f"connector {name!r} is {state}: stop it (PUT /connectors/{name}/stop) "
                "before changing its offsets"
            )
        await self.runtime.offsets.put(name, None if offset is None else dict(offset))


def check_unmasked(raw: Mapping[str, Any]) -> None:
    """Refuse a config holding a masked value: a GET's answer PUT back must not replace the
    secret with asterisks."""
    if MASK in json.dumps(raw, default=str):
        raise ConfigInvalid(
            "the config holds a masked value (**********): send the secret itself or a "
            "${env:NAME} reference",
            errors=[{"name": "config", "message": "masked value"}],
        )


def _kind(raw: Mapping[str, Any]) -> str:
    try:
        return parse_config(raw).cls.kind
    except ConfigInvalid:
        return "unknown"
