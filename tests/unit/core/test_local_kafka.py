"""The local broker's configuration, the Java version check and finding a running broker, without
starting one."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from services.core import local_kafka
from services.core.config import KafkaSettings
from services.core.local_kafka import (
    KafkaLaunchError,
    LocalKafka,
    broker_properties,
    free_port,
    java_major_version,
    render_properties,
    running_broker,
)


def _props(tmp_path: Path) -> dict[str, str]:
    return broker_properties(tmp_path / "data", host="127.0.0.1", port=19092, controller_port=19093)


def test_broker_is_a_combined_kraft_node(tmp_path: Path) -> None:
    props = _props(tmp_path)

    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "1"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["controller.listener.names"] == "CONTROLLER"


def test_broker_listens_on_the_given_ports(tmp_path: Path) -> None:
    props = _props(tmp_path)

    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["log.dirs"] == str(tmp_path / "data")


def test_internal_topics_have_one_replica_and_nothing_is_auto_created(tmp_path: Path) -> None:
    props = _props(tmp_path)

    for key in (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "share.coordinator.state.topic.replication.factor",
        "min.insync.replicas",
    ):
        assert props[key] == "1", key
    assert props["auto.create.topics.enable"] == "false"


def test_render_properties_writes_one_key_value_line_each(tmp_path: Path) -> None:
    text = render_properties(_props(tmp_path))

    lines = text.splitlines()
    assert text.endswith("\n")
    assert "auto.create.topics.enable=false" in lines
    assert f"log.dirs={tmp_path / 'data'}" in lines
    assert "listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093" in lines
    assert len(lines) == len(_props(tmp_path))
    assert render_properties({"a": "1", "b.c": "x=y"}) == "a=1\nb.c=x=y\n"


def _fake_java(tmp_path: Path, version_line: str) -> str:
    """A ``java`` that prints ``version_line`` to stderr as ``java -version`` does."""
    java = tmp_path / "java"
    java.write_text(f"#!/bin/sh\necho '{version_line}' >&2\necho 'Runtime Environment' >&2\n")
    java.chmod(java.stat().st_mode | stat.S_IXUSR)
    return str(java)


@pytest.mark.parametrize(
    ("line", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('java version "1.8.0_292"', 8),
        ('openjdk version "21" 2023-09-19', 21),
        ('openjdk version "25-ea" 2025-09-16', 25),
    ],
)
def test_java_major_version(tmp_path: Path, line: str, major: int) -> None:
    assert java_major_version(_fake_java(tmp_path, line)) == major


def test_java_major_version_rejects_unreadable_output(tmp_path: Path) -> None:
    with pytest.raises(KafkaLaunchError, match="cannot read the Java version"):
        java_major_version(_fake_java(tmp_path, "no version here"))


def test_cluster_ids_never_look_like_options() -> None:
    ids = {local_kafka._cluster_id() for _ in range(5000)}
    assert len(ids) == 5000
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)


async def test_no_broker_is_found_where_none_runs(tmp_path: Path) -> None:
    assert await running_broker(tmp_path) is None  # never started here
    port = free_port()
    for pid in (_exited_pid(), os.getpid()):  # killed leaving its file; or alive, not answering
        running = {"bootstrap": f"127.0.0.1:{port}", "pid": pid}
        (tmp_path / "broker.json").write_text(json.dumps(running))
        assert await running_broker(tmp_path, within=3) is None
    (tmp_path / "broker.json").write_text("{not json")
    assert await running_broker(tmp_path) is None


def _exited_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_the_exporter_agent_is_loaded_from_the_cache_with_the_rules(tmp_path: Path) -> None:
    settings = KafkaSettings(bootstrap=None, cache_dir=tmp_path)
    version = local_kafka.JMX_EXPORTER_VERSION
    home = tmp_path / f"jmx-exporter-{version}"
    (home / "libs").mkdir(parents=True)
    (home / ".complete").write_text("cached\n")
    broker = LocalKafka(settings, tmp_path / "broker", jmx_port=19404)

    (option,) = broker.agent_args()

    jar = home / "libs" / f"jmx_prometheus_javaagent-{version}.jar"
    assert option == f"-javaagent:{jar}=127.0.0.1:19404:{local_kafka.JMX_RULES}"
    assert local_kafka.JMX_RULES.exists()
    assert LocalKafka(settings, tmp_path / "off", jmx_port=None).agent_args() == []


def test_an_exporter_that_cannot_be_fetched_names_the_way_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_kafka.shutil, "which", lambda _: None)  # neither mvn nor curl
    broker = LocalKafka(KafkaSettings(bootstrap=None, cache_dir=tmp_path), tmp_path / "broker")

    with pytest.raises(KafkaLaunchError, match="NDXP_KAFKA_JMX_PORT=off") as raised:
        broker.agent_args()
    assert "needs Maven (mvn) or curl" in str(raised.value)
    assert not (
        tmp_path / f"jmx-exporter-{local_kafka.JMX_EXPORTER_VERSION}" / ".complete"
    ).exists()
