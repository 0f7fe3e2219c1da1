"""The worker: every connector's config, target state, task and offsets, with Kafka Connect's
rules for what may be done when (this increment runs one worker; distributed mode comes later).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from services.connectors.configs import ConnectorConfig, parse_config
from services.connectors.metrics import set_status
from services.connectors.runtime import Run, Runtime
from services.connectors.store import TopicTable
from services.core.errors import Conflict, NotFound
from services.core.kafka.topics import check_connector

TARGETS: Final = ("RUNNING", "PAUSED", "STOPPED")


class ConnectorExists(Conflict):
    code = "connector_exists"
    title = "Connector exists"


class ConnectorNotFound(NotFound):
    code = "connector_not_found"
    title = "Connector not found"


class NotStopped(Conflict):
    code = "connector_not_stopped"
    title = "Connector not stopped"


def _config_key(name: str) -> str:
    return f"connector-{name}"


def _target_key(name: str) -> str:
    return f"target-state-{name}"


@dataclass
class Worker:
    runtime: Runtime
    configs: TopicTable
    runs: dict[str, Run] = field(default_factory=dict)

    async def start(self) -> None:
        """Start every stored connector in its stored target state."""
        for key, value in sorted(self.configs.rows.items()):
            if key.startswith("connector-"):
                name = key.removeprefix("connector-")
                self.launch(name, parse_config(value["config"]), self.target(name))

    async def close(self) -> None:
        for run in list(self.runs.values()):
            await self.halt(run)

    def target(self, name: str) -> str:
        stored = self.configs.get(_target_key(name))
        return str(stored["state"]) if stored else "RUNNING"

    def launch(self, name: str, config: ConnectorConfig, target: str) -> Run:
        run = Run(name, config)
        self.runs[name] = run
        if target == "STOPPED":
            run.set_state("STOPPED")
            return run
        if target == "RUNNING":
            run.running.set()
        run.set_state(target)
        run.task = asyncio.create_task(self.runtime.run(run), name=f"connector-{name}")
        return run

    @staticmethod
    async def halt(run: Run) -> None:
        if run.task is not None:
            run.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await run.task
            run.task = None

    def get(self, name: str) -> Run:
        run = self.runs.get(name)
        if run is None:
            raise ConnectorNotFound(f"connector {name!r} not found")
        return run

    def info(self, name: str) -> dict[str, Any]:
        run = self.get(name)
        return {
            "name": name,
            "config": dict(run.config.raw),
            "tasks": [{"connector": name, "task": 0}],
            "type": run.config.cls.kind,
        }

    def status(self, name: str) -> dict[str, Any]:
        run = self.get(name)
        state: dict[str, Any] = {"state": run.state, "worker_id": self.runtime.worker_id}
        if run.trace:
            state["trace"] = run.trace
        return {
            "name": name,
            "connector": state,
            "tasks": [{"id": 0, **state}],
            "type": run.config.cls.kind,
        }

    async def create(self, name: str, raw: Mapping[str, Any]) -> dict[str, Any]:
        check_connector(name)
        if name in self.runs:
            raise ConnectorExists(f"connector {name!r} already exists")
        config = parse_config(raw)
        await self.configs.put(_config_key(name), {"config": dict(raw)})
        self.launch(name, config, "RUNNING")
        return self.info(name)

    async def put_config(self, name: str, raw: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        """Create or replace a connector's config; True if it was created."""
        if name not in self.runs:
            return await self.create(name, raw), True
        config = parse_config(raw)
        await self.configs.put(_config_key(name), {"config": dict(raw)})
        await self.halt(self.runs[name])
        self.launch(name, config, self.target(name))
        return self.info(name), False

    async def delete(self, name: str) -> None:
        run = self.get(name)
        await self.halt(run)
        await self.configs.put(_config_key(name), None)
        await self.configs.put(_target_key(name), None)
        del self.runs[name]
        set_status(name, None)

    async def set_target(self, name: str, target: str) -> None:
        run = self.get(name)
        await self.configs.put(_target_key(name), {"state": target})
        if target == "STOPPED":
            await self.halt(run)
            run.running.clear()
            run.set_state("STOPPED")
        elif run.state in ("STOPPED", "FAILED") or run.task is None:
            await self.halt(run)
            self.launch(name, run.config, target)
        elif target == "PAUSED":
            run.running.clear()
            run.set_state("PAUSED")
        else:
            run.running.set()
            run.set_state("RUNNING")

    async def restart(self, name: str) -> None:
        run = self.get(name)
        await self.halt(run)
        self.launch(name, run.config, self.target(name))

    def offsets(self, name: str) -> dict[str, Any]:
        self.get(name)
        offset = self.runtime.offsets.get(name)
        entries = [] if offset is None else [{"partition": {"connector": name}, "offset": offset}]
        return {"offsets": entries}

    async def alter_offsets(self, name: str, offset: Mapping[str, Any] | None) -> None:
        """Set (or with None, reset) a stopped connector's source offset."""
        run = self.get(name)
        if run.state != "STOPPED":
            raise NotStopped(
                f"connector {name!r} is {run.state}: stop it (PUT /connectors/{name}/stop) "
                "before changing its offsets"
            )
        await self.runtime.offsets.put(name, None if offset is None else dict(offset))
