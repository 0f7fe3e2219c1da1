"""The connect service: connector workers with a Kafka Connect-style REST API, port 8083."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from services.connectors.api import connectors, plugins
from services.connectors.auth import ConnectAuth
from services.connectors.credentials import registry_auth
from services.connectors.failures import Retry
from services.connectors.group import Membership
from services.connectors.guard_rails import GuardRails
from services.connectors.lag import sink_lag
from services.connectors.runtime import Runtime
from services.connectors.store import TopicTable
from services.connectors.worker import Worker
from services.core.audit import audit_log
from services.core.auth.authenticator import authentication
from services.core.avro.contract_cache import ContractCache
from services.core.avro.registry_client import RegistryClient
from services.core.config import ConnectSettings
from services.core.events.direct import DirectSender
from services.core.events.writer import EventWriter
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
            auth = await registry_auth(settings, core.sessions, http)
            registry = RegistryClient(settings.registry_url)
            stack.push_async_callback(registry.close)
            tables = [
                TopicTable(settings.kafka, topic, producer)
                for topic in (settings.configs_topic, settings.offsets_topic, settings.status_topic)
            ]
            for table in tables:
                await table.start()
                stack.push_async_callback(table.stop)
            configs, offsets, statuses = tables
            audit = await stack.enter_async_context(audit_log(core))
            # records have a producer of their own: it is replaced if Kafka leaves it unusable
            sender = await DirectSender(settings.kafka).start()
            writer = EventWriter(ContractCache(registry), sender, audit=audit)
            stack.push_async_callback(writer.close)
            runtime = Runtime(
                writer,
                offsets,
                auth,
                Retry(settings.retry_attempts, settings.retry_backoff),
                worker_id=f"{settings.host}:{settings.port}/{os.getpid()}",
                kafka=settings.kafka,
                sessions=core.sessions,
                audit=audit,
            )
            rails = GuardRails(settings.file_dirs, settings.database_url)
            worker = Worker(runtime, configs, statuses, rails)
            await worker.start()
            stack.push_async_callback(worker.close)
            # every sink's lag, every NDXP_KAFKA_LAG_INTERVAL s, by the worker that leads
            await stack.enter_async_context(sink_lag(core, worker))
            membership = Membership(
                settings.kafka,
                settings.slots_topic,
                settings.group,
                worker.assign,
                session_timeout_ms=settings.session_timeout_ms,
            )
            await membership.start()
            stack.push_async_callback(membership.stop)
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
