"""Partition health as the watch reads it from a metadata response: ndxp's topics only."""

from __future__ import annotations

from typing import Any

import pytest

from services.core.config import KafkaSettings
from services.core.kafka.topics import is_hub_topic
from services.core.kafka.watch import partition_health


def _partition(index: int, *, leader: int = 1, replicas: int = 3, isr: int = 3) -> dict[str, Any]:
    return {
        "error_code": 0,
        "partition": index,
        "leader": leader,
        "replicas": list(range(1, replicas + 1)),
        "isr": list(range(1, isr + 1)),
        "offline_replicas": [],
    }


def test_short_isrs_and_missing_leaders_are_counted_per_ndxp_topic() -> None:
    topics = [
        {"topic": "mps.residence-changes.v1", "partitions": [
            _partition(0), _partition(1, isr=2), _partition(2, isr=1)]},
        {"topic": "ndxp.audit", "partitions": [_partition(0, leader=-1, isr=0)]},
        {"topic": "ndxp.dlq.rows", "partitions": [_partition(0)]},
        {"topic": "__consumer_offsets", "partitions": [_partition(0, isr=1)]},
        {"topic": "someone-elses", "partitions": [_partition(0, leader=-1)]},
    ]  # fmt: skip

    under, offline = partition_health(topics)

    assert under == {"mps.residence-changes.v1": 2, "ndxp.audit": 1, "ndxp.dlq.rows": 0}
    assert offline == {"mps.residence-changes.v1": 0, "ndxp.audit": 1, "ndxp.dlq.rows": 0}


@pytest.mark.parametrize(
    ("topic", "ours"),
    [
        ("mps.residence-changes.v1", True),
        ("mps.residence-changes.v12", True),
        ("ndxp.audit", True),
        ("ndxp.connect-offsets", True),
        ("mps.residence-changes", False),
        ("__transaction_state", False),
        ("test-topic", False),
    ],
)
def test_hub_topics(topic: str, ours: bool) -> None:
    assert is_hub_topic(topic) is ours


def test_jmx_port_is_a_port_or_off(monkeypatch: pytest.MonkeyPatch) -> None:
    assert KafkaSettings().jmx_port == 9404
    monkeypatch.setenv("NDXP_KAFKA_JMX_PORT", "off")
    assert KafkaSettings().jmx_port == "off"
    monkeypatch.setenv("NDXP_KAFKA_JMX_PORT", "0")
    assert KafkaSettings().jmx_port == 0
    for wrong in ("-1", "on"):
        monkeypatch.setenv("NDXP_KAFKA_JMX_PORT", wrong)
        with pytest.raises(ValueError, match="jmx_port"):
            KafkaSettings()
