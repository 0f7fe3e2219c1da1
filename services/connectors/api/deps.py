"""What the connect routes depend on."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.connectors.worker import Worker as WorkerState


def get_worker(request: Request) -> WorkerState:
    worker: WorkerState = request.state.worker
    return worker


Worker = Annotated[WorkerState, Depends(get_worker)]
