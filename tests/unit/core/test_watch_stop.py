"""The service's watch stops when told, even when the cancel arrives as a look at Kafka fails
(``asyncio.wait_for`` in 3.11, or a Kafka client, may answer a cancel with the failure)."""

from __future__ import annotations

import asyncio
from typing import Any

from services.core.kafka.watch import ClusterView, ClusterWatch
from services.core.tasks import repeat
from tests.fixtures.kafka import kafka_test_settings
from tests.fixtures.stopping import cancel_and_wait


class RefusedOnCancel(ClusterWatch):
    """A watch whose look turns the cancel into the failure it was in the middle of, as a Kafka
    client connecting to a dead broker may."""

    looks = 0
    error: type[Exception] = ConnectionRefusedError
    refuse = True

    async def _look(self) -> ClusterView:
        self.looks += 1
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            if self.refuse:
                raise self.error(111, "Connect call failed") from None
            raise
        return ClusterView(brokers=1, under_replicated={}, offline={})


async def _cancel(task: asyncio.Task[Any], watch: RefusedOnCancel) -> None:
    await asyncio.sleep(0.05)
    assert watch.looks == 1

    def release() -> None:
        watch.refuse = False

    await cancel_and_wait(task, release)
    assert watch.looks == 1


async def test_a_cancel_lost_in_a_failed_look_is_not_a_cluster_gone() -> None:
    watch = RefusedOnCancel(kafka_test_settings(), "127.0.0.1:9", "watch-stop", timeout=60)
    await _cancel(asyncio.create_task(watch.observe()), watch)


async def test_a_cancel_lost_in_a_failed_look_still_stops_the_loop() -> None:
    watch = RefusedOnCancel(kafka_test_settings(), "127.0.0.1:9", "watch-stop", timeout=60)
    watch.error = RuntimeError  # not a Kafka failure: the loop's own catch-all meets it
    await _cancel(asyncio.create_task(repeat("the watch", 0.01, watch.observe)), watch)
