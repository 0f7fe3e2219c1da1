"""The connect service: connector workers with a Kafka Connect-style REST API, port 8083."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from services.connectors.api import connectors, plugins
from services.connectors.auth import ConnectAuth
from services.connectors.runtime import Retry, Runtime
from services.connectors.store import TopicTable
from services.connectors.worker import Worker
from services.core.auth.authenticator import authentication
from services.core.config import ConnectSettings
from services.core.http.service import create_service_app
from services.core.http.state import CoreState
from services.core.kafka.producer import create_producer, start_producer

_HTTP_TIMEOUT = 10.0


def create_app(settings: ConnectSettings | None = None) -> FastAPI:
    settings = settings or ConnectSettings()

    @asynccontextmanager
    async def resources(core: CoreState) -> AsyncIterator[Mapping[str, Any]]:
        async with AsyncExitStack() as stack:
            producer = await start_producer(create_producer(settings.kafka))
            stack.push_async_callback(producer.stop)
            http = await stack.enter_async_context(httpx.AsyncClient(timeout=_HTTP_TIMEOUT))
            configs = TopicTable(settings.kafka, settings.configs_topic, producer)
            offsets = TopicTable(settings.kafka, settings.offsets_topic, producer)
            await configs.load()
            await offsets.load()
            runtime = Runtime(
                producer,
                offsets,
                http,
                settings.registry_url,
                Retry(settings.retry_attempts, settings.retry_backoff),
                worker_id=f"{settings.host}:{settings.port}",
                kafka=settings.kafka,
            )
            worker = Worker(runtime, configs)
            stack.push_async_callback(worker.close)
            await worker.start()
            state: dict[str, Any] = {"worker": worker}
            if settings.auth.require_tokens:
                state["authenticator"] = await stack.enter_async_context(authentication(core))
            yield state

    return create_service_app(
        "connect",
        settings,
        routers=[connectors.router, plugins.router],
        resources=resources,
        middleware=[ConnectAuth],
    )
