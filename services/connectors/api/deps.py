"""What the connect routes depend on: the worker, and what the caller may see of it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from services.connectors.configs import CONSUMER
from services.connectors.worker import ConnectorNotFound, Worker
from services.core.auth.principal import Principal


def get_worker(request: Request) -> Worker:
    worker: Worker = request.state.worker
    return worker


WorkerDep = Annotated[Worker, Depends(get_worker)]


@dataclass(frozen=True)
class Viewer:
    """Whose connectors a caller sees: every one (``agency`` None: an admin, or a worker that
    runs without tokens), else only those that act for the caller's agency (``consumer``: the
    push subscriptions the gateway wrote for it) — never another's config, offsets or trace."""

    agency: str | None

    def sees(self, config: Mapping[str, Any]) -> bool:
        return self.agency is None or config.get(CONSUMER) == self.agency

    def names(self, worker: Worker) -> list[str]:
        return [name for name in worker.names() if self.sees(worker.raw_config(name))]

    def check(self, worker: Worker, name: str) -> None:
        """:class:`ConnectorNotFound` unless the connector exists and the caller sees it: one
        another agency's is absent, so its name tells nothing."""
        if not self.sees(worker.raw_config(name)):
            raise ConnectorNotFound(f"connector {name!r} not found")


def get_viewer(request: Request) -> Viewer:
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None or principal.is_admin:
        return Viewer(None)
    return Viewer(principal.agency)


Visible = Annotated[Viewer, Depends(get_viewer)]
