"""Background loops that retry stop when cancelled, even when the cancel arrives as a failure of
the attempt under way (as ``asyncio.wait_for`` in 3.11, or a client connecting to a dead broker
or database, may turn it into one): the publish committers, the stream watch and the lease
renewal of an ``Idempotency-Key``. (The audit relay's is tests/unit/core/audit/test_relay_stop.)"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from services.core.errors import Unavailable
from services.core.events.transactions import Outgoing, Publisher, _Job
from services.core.kafka.producer_pool import ProducerPool
from services.core.tasks import cancel_requested
from services.gateway.publish.idempotency import IdempotencyKeys
from services.gateway.subscriptions.stream_watch import StreamWatch, Watched
from tests.fixtures.stopping import Disguise, stops

NONE: Any = None


async def test_cancel_requested_is_what_the_task_was_asked() -> None:
    async def asked() -> bool:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            return cancel_requested()
        return False

    task = asyncio.create_task(asked())
    await asyncio.sleep(0)
    assert not cancel_requested()
    task.cancel()
    assert await task


class FailingCommits(Publisher):
    """A publisher whose transaction fails as a cancel arrives: its batches get a 503."""

    def __init__(self, disguise: Disguise) -> None:
        super().__init__(ProducerPool(NONE, "", 1), 5.0, NONE)
        self.disguise = disguise

    async def _commit(self, group: list[_Job]) -> None:
        try:
            await self.disguise.attempt()
        except ConnectionRefusedError as exc:  # as _commit settles a failed transaction
            for job in group:
                job.settle(Unavailable(f"Kafka unavailable: {exc}"))


async def test_a_committer_stops_when_its_cancel_is_lost_in_a_failed_transaction() -> None:
    disguise = Disguise()
    publisher = FailingCommits(disguise)
    send = asyncio.create_task(publisher.send("t", Outgoing([b"v"], None, [[]], 0)))
    await asyncio.wait_for(disguise.started.wait(), 3)  # in the committer's transaction
    try:
        await stops(publisher._committers[0], disguise)
    finally:
        await asyncio.wait({send}, timeout=3)
    assert isinstance(send.exception(), Unavailable)


class FailingWatch(StreamWatch):
    def __init__(self, disguise: Disguise) -> None:
        super().__init__(NONE, every=0.01)
        self.disguise = disguise

    async def refresh(self) -> None:
        await self.disguise.attempt()


async def test_the_stream_watch_stops_when_its_cancel_is_lost_in_a_failed_read() -> None:
    disguise = Disguise()
    watch = FailingWatch(disguise)
    with watch.watching(Watched("s", "a", "agency")):
        task = watch._task
        assert task is not None
        await stops(task, disguise)


class FailingRenewals(IdempotencyKeys):
    def __init__(self, disguise: Disguise) -> None:
        super().__init__(NONE, NONE, lease=0.03)
        self.disguise = disguise

    async def _update_own(self, client_id: str, dataset_id: str, key: str, **values: Any) -> bool:
        await self.disguise.attempt()
        return True


async def test_a_lease_let_go_of_is_not_renewed_when_the_cancel_is_lost() -> None:
    disguise = Disguise()
    keys = FailingRenewals(disguise)
    renew: Callable[[], Awaitable[None]] = lambda: keys._renew(("client", "a.d", "k"))  # noqa: E731
    await stops(asyncio.create_task(renew()), disguise)
