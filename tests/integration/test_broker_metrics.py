"""The local broker's own metrics: the Prometheus JMX exporter agent that LocalKafka starts with it
serves the series of deploy/monitoring/jmx/kafka-broker.yml, per-topic traffic included, on the
port broker.json names."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from services.core.kafka.admin import TopicSpec, ensure_topic
from services.core.local_kafka import LocalKafka
from tests.fixtures.kafka import kafka_test_settings
from tests.integration.test_kafka import _consume, _produce, _records

SETTINGS = kafka_test_settings()


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the exposition at ``url``: (name, labels) -> value."""
    answer = httpx.get(url, timeout=30)
    assert answer.status_code == 200, answer.text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    key = (name, frozenset(labels.items()))
    assert key in samples, (
        f"no {name}{labels}: {sorted(n for n, _ in samples if n.startswith('kafka'))}"
    )
    return samples[key]


async def test_the_broker_exports_its_health_and_per_topic_traffic(tmp_path: Path) -> None:
    broker = LocalKafka(kafka_test_settings(heap="256m"), tmp_path)
    try:
        bootstrap = await broker.start()
        found = json.loads(broker.broker_file.read_text())
        assert found["jmx_port"] == broker.jmx_port
        assert broker.metrics_url == f"http://127.0.0.1:{found['jmx_port']}/metrics"
        topic = f"test-jmx-{uuid.uuid4().hex[:12]}"
        await ensure_topic(SETTINGS, TopicSpec(topic, partitions=2), bootstrap=bootstrap)
        await _produce(bootstrap, topic, _records(200))
        assert len(await _consume(bootstrap, topic)) == 200
        samples = scrape(broker.metrics_url)
    finally:
        broker.stop()

    assert value(samples, "kafka_server_replicamanager_underreplicatedpartitions") == 0
    assert value(samples, "kafka_controller_kafkacontroller_offlinepartitionscount") == 0
    assert value(samples, "kafka_controller_kafkacontroller_activecontrollercount") == 1
    assert value(samples, "kafka_server_kafkaserver_brokerstate") == 3  # RUNNING
    assert value(samples, "kafka_log_logmanager_offlinelogdirectorycount") == 0
    # 200 records of 4-303 bytes plus headers: the bytes in are at least their values' bytes
    assert value(samples, "kafka_server_brokertopicmetrics_bytesin_total", topic=topic) > 200 * 4
    assert value(samples, "kafka_server_brokertopicmetrics_messagesin_total", topic=topic) == 200
    assert value(samples, "kafka_server_brokertopicmetrics_bytesout_total", topic=topic) > 200 * 4
    on_disk = sum(
        value(samples, "kafka_log_log_size_bytes", topic=topic, partition=p) for p in ("0", "1")
    )
    assert on_disk > 200 * 4
    for partition in ("0", "1"):
        assert value(samples, "kafka_cluster_partition_underreplicated", topic=topic,
                     partition=partition) == 0  # fmt: skip
    produce_p99 = value(
        samples,
        "kafka_network_requestmetrics_totaltime_seconds",
        request="Produce",
        quantile="0.99",
    )
    assert 0 <= produce_p99 < 30  # seconds, not milliseconds
    assert value(samples, "kafka_network_requestmetrics_errors_total", request="Produce",
                 error="NONE") > 0  # fmt: skip
    # Only what the rules name: no catch-all kafka_* series of every MBean.
    kafka_names = {name for name, _ in samples if name.startswith("kafka_")}
    assert len(kafka_names) < 40, sorted(kafka_names)


async def test_the_exporter_can_be_left_out(tmp_path: Path) -> None:
    broker = LocalKafka(kafka_test_settings(heap="256m"), tmp_path, jmx_port=None)
    try:
        await broker.start()
        found = json.loads(broker.broker_file.read_text())
        assert broker.running
        cmdline = Path(f"/proc/{found['pid']}/cmdline")
        argv = cmdline.read_bytes().split(b"\0")  # noqa: ASYNC240
        assert b"kafka.Kafka" in argv
        assert not [arg for arg in argv if arg.startswith(b"-javaagent")]
    finally:
        broker.stop()
    assert found["jmx_port"] is None
    assert broker.metrics_url is None
