"""The audit trail: every act of sharing, hash-chained, in the control plane and on ``ndxp.audit``.

Usage: a service opens :func:`audit_log` in its lifespan and puts it in its state as ``audit``;
code that shares calls ``await request.state.audit.record(AuditEvent(...))``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaProducer

from services.core.audit.event import ACTIONS, AuditEvent, AuditTrail
from services.core.audit.log import AuditLog
from services.core.audit.verify import ChainReport, verify_chain
from services.core.http.state import CoreState
from services.core.kafka.admin import TopicSpec, ensure_topic
from services.core.kafka.producer import create_producer, start_producer
from services.core.kafka.topics import AUDIT_TOPIC

__all__ = [
    "ACTIONS",
    "AuditEvent",
    "AuditLog",
    "AuditTrail",
    "ChainReport",
    "audit_log",
    "verify_chain",
]


@asynccontextmanager
async def audit_log(core: CoreState, *, topic: str = AUDIT_TOPIC) -> AsyncIterator[AuditLog]:
    """An :class:`AuditLog` on the service's control plane and Kafka, for its lifetime. The topic
    and the producer are set up on the first record, so a service starts while Kafka is down."""
    producer: AIOKafkaProducer | None = None
    lock = asyncio.Lock()

    async def get_producer() -> AIOKafkaProducer:
        nonlocal producer
        async with lock:
            if producer is None:
                settings, bootstrap = core.settings.kafka, core.kafka_bootstrap
                # One partition (the chain's order), compacted with a unique key per record and
                # no time limit: nothing is ever removed.
                spec = TopicSpec(topic, 1, cleanup_policy="compact", retention_ms=-1)
                await ensure_topic(settings, spec, bootstrap=bootstrap)
                # linger 0: a group is already a batch, and callers wait for its acknowledgement
                producer = await start_producer(
                    create_producer(settings, bootstrap=bootstrap, linger_ms=0)
                )
            return producer

    audit = AuditLog(core.sessions, core.engine.dialect.name, get_producer, topic)
    audit.start()  # what a stopped replica left unpublished goes out now
    try:
        yield audit
    finally:
        await audit.close()
        if producer is not None:
            await producer.stop()
