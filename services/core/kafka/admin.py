"""Topic administration and the Kafka readiness check, over aiokafka's admin client.

Every function opens its own short-lived admin client and closes it whatever happens: topics are
created and described rarely (a dataset registered, a connector created, a service starting).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import (
    InvalidConfigurationError,
    InvalidPartitionsError,
    InvalidReplicationAssignmentError,
    InvalidReplicationFactorError,
    InvalidRequestError,
    InvalidTopicError,
    KafkaError,
    PolicyViolationError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
    for_code,
)
from aiokafka.protocol.metadata import MetadataRequest

from services.core.config import KafkaSettings
from services.core.errors import BadRequest, NotFound, Unavailable
from services.core.kafka.errors import kafka_errors

_NO_ERROR = 0
# What the broker answers to a topic request that can never succeed as asked: the caller's mistake.
_INVALID_REQUEST = (
    InvalidConfigurationError,
    InvalidPartitionsError,
    InvalidReplicationAssignmentError,
    InvalidReplicationFactorError,
    InvalidRequestError,
    InvalidTopicError,
    PolicyViolationError,
)


@dataclass(frozen=True)
class TopicSpec:
    """A topic as ndxp wants it; ``replication_factor=None`` means the settings' default."""

    name: str
    partitions: int = 1
    replication_factor: int | None = None
    retention_ms: int | None = None
    cleanup_policy: str | None = None
    config: Mapping[str, str] = field(default_factory=dict)

    def topic_config(self) -> dict[str, str]:
        """The topic-level configs to create it with (``retention.ms``, ``cleanup.policy``, ...)."""
        configs = dict(self.config)
        if self.retention_ms is not None:
            configs["retention.ms"] = str(self.retention_ms)
        if self.cleanup_policy is not None:
            configs["cleanup.policy"] = self.cleanup_policy
        return configs


@dataclass(frozen=True)
class TopicDescription:
    """What the cluster says about a topic: its partitions and its effective configs."""

    name: str
    partitions: int
    replication_factor: int
    config: Mapping[str, str]

    @property
    def retention_ms(self) -> int | None:
        value = self.config.get("retention.ms")
        return int(value) if value is not None else None

    @property
    def cleanup_policy(self) -> str | None:
        return self.config.get("cleanup.policy")


@asynccontextmanager
async def admin_client(
    settings: KafkaSettings, *, bootstrap: str | None = None
) -> AsyncIterator[AIOKafkaAdminClient]:
    """A started admin client, closed on exit; an unreachable cluster is ``Unavailable``."""
    client = AIOKafkaAdminClient(**settings.client_options(bootstrap))
    try:
        with kafka_errors("Kafka admin"):
            await client.start()
        with kafka_errors("Kafka admin"):
            yield client
    finally:
        await client.close()


async def ensure_topic(
    settings: KafkaSettings, spec: TopicSpec, *, bootstrap: str | None = None
) -> bool:
    """Create the topic unless it exists; True if this call created it.

    An existing topic is left as it is (its partitions and configs are not reconciled). Returns only
    once the topic's partitions have leaders, so it can be produced to straight away.
    """
    replication = spec.replication_factor or settings.replication_factor
    new_topic = NewTopic(spec.name, spec.partitions, replication, topic_configs=spec.topic_config())
    async with admin_client(settings, bootstrap=bootstrap) as admin:
        response = await admin.create_topics([new_topic])
        result = _topic_result(response.to_object(), "topic_errors", spec.name)
        if result["error_code"] == TopicAlreadyExistsError.errno:
            return False
        _raise_for(result["error_code"], result.get("error_message"), spec.name)
        await _wait_for_leaders(admin, spec.name, settings.request_timeout_ms / 1000)
    return True


async def describe_topic(
    settings: KafkaSettings, name: str, *, bootstrap: str | None = None
) -> TopicDescription:
    """Partitions and effective configs of topic ``name``; ``NotFound`` if there is none."""
    async with admin_client(settings, bootstrap=bootstrap) as admin:
        topic = await _topic_metadata(admin, name)
        if topic["error_code"] == UnknownTopicOrPartitionError.errno:
            raise NotFound(f"Kafka topic {name!r} does not exist")
        _raise_for(topic["error_code"], None, name)
        resource = ConfigResource(ConfigResourceType.TOPIC, name)
        (response,) = await admin.describe_configs([resource])
        (described,) = response.to_object()["resources"]
        _raise_for(described["error_code"], described["error_message"], name)
    partitions = topic["partitions"]
    return TopicDescription(
        name=name,
        partitions=len(partitions),
        replication_factor=max((len(p["replicas"]) for p in partitions), default=0),
        config={
            entry["config_names"]: entry["config_value"]
            for entry in described["config_entries"]
            if entry["config_value"] is not None
        },
    )


async def delete_topic(settings: KafkaSettings, name: str, *, bootstrap: str | None = None) -> bool:
    """Delete topic ``name`` and its records; True if it existed."""
    async with admin_client(settings, bootstrap=bootstrap) as admin:
        response = await admin.delete_topics([name])
        result = _topic_result(response.to_object(), "topic_error_codes", name)
        if result["error_code"] == UnknownTopicOrPartitionError.errno:
            return False
        _raise_for(result["error_code"], result.get("error_message"), name)
    return True


async def check_kafka(
    settings: KafkaSettings,
    *,
    bootstrap: str | None = None,
    timeout: float = 5.0,  # noqa: ASYNC109 - the probe's bound is part of its contract
) -> dict[str, Any]:
    """Return the cluster's description (``cluster_id``, ``brokers``, ...) if it answers a metadata
    request naming a broker within ``timeout`` seconds; raise ``Unavailable`` otherwise. This is
    the Kafka half of ``/readyz``."""
    options = {**settings.client_options(bootstrap), "request_timeout_ms": int(timeout * 1000)}
    client = AIOKafkaAdminClient(**options)
    try:
        async with asyncio.timeout(timeout):
            cluster = await _start_and_describe(client)
    except (KafkaError, OSError, TimeoutError) as exc:
        raise Unavailable(f"Kafka at {options['bootstrap_servers']} did not answer: {exc}") from exc
    finally:
        await client.close()
    if not cluster["brokers"]:
        raise Unavailable(f"Kafka at {options['bootstrap_servers']} reports no brokers")
    return cluster


async def _start_and_describe(client: AIOKafkaAdminClient) -> dict[str, Any]:
    await client.start()
    cluster: dict[str, Any] = await client.describe_cluster()
    return cluster


async def _topic_metadata(admin: AIOKafkaAdminClient, name: str) -> dict[str, Any]:
    # aiokafka's describe_topics asks the broker to auto-create a missing topic; ndxp never wants
    # that (a describe must not create), so send the metadata request with the flag off.
    request = MetadataRequest([name], allow_auto_topic_creation=False)
    response = await admin._client.send(admin._client.get_random_node(), request)
    (topic,) = response.to_object()["topics"]
    result: dict[str, Any] = topic
    return result


async def _wait_for_leaders(admin: AIOKafkaAdminClient, name: str, within: float) -> None:
    """Wait until every partition of a new topic has a leader (KRaft propagates it quickly)."""
    try:
        async with asyncio.timeout(within):
            while True:
                topic = await _topic_metadata(admin, name)
                partitions = topic["partitions"]
                if (
                    topic["error_code"] == _NO_ERROR
                    and partitions
                    and all(p["error_code"] == _NO_ERROR and p["leader"] >= 0 for p in partitions)
                ):
                    return
                await asyncio.sleep(0.05)
    except TimeoutError as exc:
        raise Unavailable(f"Kafka topic {name!r} has no leader after {within:.0f}s") from exc


def _topic_result(response: dict[str, Any], key: str, topic: str) -> dict[str, Any]:
    (result,) = (entry for entry in response[key] if entry["topic"] == topic)
    return dict(result)


def _raise_for(code: int, message: str | None, topic: str) -> None:
    if code == _NO_ERROR:
        return
    error = for_code(code)
    detail = message or error.description
    if issubclass(error, _INVALID_REQUEST):
        raise BadRequest(f"Kafka refused topic {topic!r}: {detail}")
    raise error(f"topic {topic!r}: {detail}")
