"""The watch's look at a real cluster: up, brokers reachable, ndxp's topics healthy; and at a port
where nothing answers: down, its topic series gone."""

from __future__ import annotations

import shutil
import time
import uuid

from prometheus_client import REGISTRY

from services.core.kafka.admin import TopicSpec, ensure_topic
from services.core.kafka.watch import ClusterWatch
from services.core.local_kafka import free_port
from tests.fixtures.kafka import kafka_test_settings

SETTINGS = kafka_test_settings()


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def test_a_reachable_cluster_and_its_healthy_topics(kafka_bootstrap: str) -> None:
    service = f"watch-{uuid.uuid4().hex[:8]}"
    topic = f"ndxp.test-watch-{uuid.uuid4().hex[:8]}"
    await ensure_topic(SETTINGS, TopicSpec(topic, partitions=3), bootstrap=kafka_bootstrap)
    watch = ClusterWatch(SETTINGS, kafka_bootstrap, service)
    try:
        view = await watch.observe()
        again = await watch.observe()  # the same connection, looked through again
    finally:
        await watch.close()

    assert view is not None
    assert again is not None
    assert view.brokers >= 1
    assert view.under_replicated[topic] == 0
    assert view.offline[topic] == 0
    assert sample("ndxp_kafka_up", service=service) == 1
    assert sample("ndxp_kafka_brokers", service=service) == view.brokers
    assert sample("ndxp_kafka_under_replicated_partitions", service=service, topic=topic) == 0
    assert sample("ndxp_kafka_offline_partitions", service=service, topic=topic) == 0
    assert all(name.startswith("ndxp.") or name.count(".") == 2 for name in view.offline)

    # each broker's log directories, as big as the file system this (local) broker writes to
    assert again.log_dirs, "no broker told its log directories"
    for (broker, path), size in again.log_dirs.items():  # the last look's
        labels = {"service": service, "broker": broker, "log_dir": path}
        assert sample("ndxp_kafka_log_dir_total_bytes", **labels) == size.total
        assert sample("ndxp_kafka_log_dir_usable_bytes", **labels) == size.usable
        assert 0 < size.usable <= size.total == shutil.disk_usage(path).total


async def test_an_unreachable_cluster_is_down_and_its_topics_unknown(kafka_bootstrap: str) -> None:
    service = f"watch-{uuid.uuid4().hex[:8]}"
    topic = f"ndxp.test-watch-{uuid.uuid4().hex[:8]}"
    await ensure_topic(SETTINGS, TopicSpec(topic), bootstrap=kafka_bootstrap)
    watch = ClusterWatch(SETTINGS, kafka_bootstrap, service)
    try:
        seen = await watch.observe()
        assert seen is not None
        assert sample("ndxp_kafka_offline_partitions", service=service, topic=topic) == 0
        watch.bootstrap = f"127.0.0.1:{free_port()}"  # the cluster moved away: nothing answers
        await watch.close()
        started = time.monotonic()
        assert await watch.observe() is None
        assert time.monotonic() - started < watch.timeout + 1
    finally:
        await watch.close()

    assert sample("ndxp_kafka_up", service=service) == 0
    assert sample("ndxp_kafka_brokers", service=service) == 0
    assert sample("ndxp_kafka_offline_partitions", service=service, topic=topic) is None
    assert sample("ndxp_kafka_under_replicated_partitions", service=service, topic=topic) is None
    for broker, path in seen.log_dirs:
        labels = {"service": service, "broker": broker, "log_dir": path}
        assert sample("ndxp_kafka_log_dir_usable_bytes", **labels) is None
