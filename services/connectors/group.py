"""Who runs what: the connect workers of one group share the connectors through a Kafka consumer
group, as Kafka Connect's workers do (there through its own group protocol, here through a plain
consumer group, which aiokafka speaks).

Every connector has a *slot*, a partition of the slots topic chosen by a hash of its name
(:func:`slot_of`). The workers join the consumer group ``<group>`` subscribed to that topic; the
group coordinator spreads the slots over the live workers (round robin), and a worker runs exactly
the connectors whose slot it holds. When a worker leaves or stops heart-beating for a session
timeout, the coordinator gives its slots to the others, which start its connectors from their
committed offsets. Nothing is ever written to the slots topic: it exists for its partitions.

Before a rebalance completes, each worker stops the connectors of the slots it loses (the
``on_partitions_revoked`` callback runs before the worker rejoins), so two live workers never run
one connector; a worker that is cut off rather than dead stops its connectors when its consumer
notices it was fenced.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import Awaitable, Callable
from typing import Final

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka.structs import TopicPartition

from services.core.config import KafkaSettings
from services.core.kafka.admin import TopicSpec, ensure_topic
from services.core.kafka.consumer import create_consumer

log = logging.getLogger(__name__)

SLOTS: Final = 32

Assign = Callable[[frozenset[int]], Awaitable[None]]


def slot_of(name: str) -> int:
    """The slot (partition of the slots topic) of connector ``name``: the same on every worker."""
    return zlib.crc32(name.encode()) % SLOTS


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped here
    def __init__(self, assign: Assign) -> None:
        self.assign = assign
        self.held: frozenset[int] = frozenset()
        self.closing = False

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.held = self.held - {tp.partition for tp in revoked}
        await self.assign(self.held)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        if self.closing:  # leaving: hold nothing, whatever a last rebalance says
            return
        self.held = frozenset(tp.partition for tp in assigned)
        await self.assign(self.held)


class Membership:
    """This worker's membership of the group; calls ``assign`` with the slots it holds, each
    time they change (an empty set when it loses them all or leaves)."""

    def __init__(
        self,
        settings: KafkaSettings,
        topic: str,
        group: str,
        assign: Assign,
        *,
        session_timeout_ms: int,
    ) -> None:
        self.settings, self.topic, self.group = settings, topic, group
        self.listener = _Listener(assign)
        self.session_timeout_ms = session_timeout_ms
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await ensure_topic(self.settings, TopicSpec(self.topic, partitions=SLOTS))
        consumer = create_consumer(
            self.settings,
            group_id=self.group,
            session_timeout_ms=self.session_timeout_ms,
            heartbeat_interval_ms=max(500, self.session_timeout_ms // 5),
            # The group waits this long for members to rejoin in a rebalance; stopping a
            # connector (cancel its task) takes well under it.
            rebalance_timeout_ms=max(self.session_timeout_ms, 10_000),
            max_poll_interval_ms=300_000,
        )
        consumer.subscribe([self.topic], listener=self.listener)
        await consumer.start()
        self._consumer = consumer
        self._task = asyncio.create_task(self._poll(consumer), name=f"group-{self.group}")

    async def _poll(self, consumer: AIOKafkaConsumer) -> None:
        # The slots topic is empty: polling only keeps this member in the group and lets
        # rebalances run their callbacks.
        while True:
            try:
                await consumer.getmany(timeout_ms=1000)
            except asyncio.CancelledError:
                raise
            except Exception:  # the broker away for a moment: stay in the loop, rejoin later
                log.warning("group %s: polling failed; retrying", self.group, exc_info=True)
                await asyncio.sleep(1.0)

    async def stop(self) -> None:
        """Leave the group at once (its slots move to the others without waiting a timeout)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        # Stop the connectors before leaving: aiokafka's LeaveGroup does not call the revoke
        # callback, and the others start them as soon as this worker has left.
        self.listener.closing = True
        self.listener.held = frozenset()
        await self.listener.assign(frozenset())
        if self._consumer is not None:
            await self._consumer.stop()
