"""Push subscriptions: a subscription whose records connect's ``webhook-sink`` posts to the
consumer's endpoint, instead of the consumer pulling or streaming them.

``POST /v1/subscriptions`` with ``"push": {"url": "https://..."}`` creates the subscription as
usual, but in the consumer group of connector ``push-<subscription id>``
(:func:`~services.core.kafka.topics.connector_group`), so the start position resolved at creation
is where the connector starts. The gateway then writes that connector to connect's configs topic
(:mod:`services.core.kafka.connect_configs`): ``webhook-sink`` on the dataset, under the
subscription's agreement, to the URL, signing with a secret generated here and shown to the
consumer once, in the creation response. Connect's workers run whatever the topic holds; the sink
checks the agreement before every batch and delivers only what it grants, as pulls do.

The gateway writes to the topic itself (the records connect's API would write) rather than call
connect's API: connect is an internal service with no notion of a consumer agency, and the gateway
already holds Kafka producers. The write is one transaction, so a worker sees the whole connector
or nothing. If it fails the subscription is undone and the consumer told to retry (503).

Deleting a push subscription deletes its connector first; pulling, streaming, acknowledging or
resetting one is refused (409 ``push_subscription``): its place belongs to the connector.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Final, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from pydantic import BaseModel, ConfigDict, StringConstraints, field_validator

from services.core.config import KafkaSettings
from services.core.db.models import Agreement, Dataset, Subscription
from services.core.errors import Conflict, NdxpError, Unavailable, Unprocessable
from services.core.http.destinations import DestinationPolicy, DestinationRefused
from services.core.http.endpoints import check_endpoint_url
from services.core.kafka.admin import TopicSpec, ensure_topic
from services.core.kafka.connect_configs import connector_records, deletion_records
from services.core.kafka.errors import kafka_errors
from services.core.kafka.producer import Record, send_batch
from services.core.kafka.producer_pool import Broken, ProducerPool
from services.core.kafka.topics import connector_group

log = logging.getLogger(__name__)

CONNECTOR_PREFIX: Final = "push-"
PLUGIN: Final = "webhook-sink"
RETRY_AFTER: Final = "5"
SECRET_BYTES: Final = 32


class PushIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Annotated[str, StringConstraints(min_length=1, max_length=2048)]

    @field_validator("url")
    @classmethod
    def _secure_url(cls, url: str) -> str:
        if "$" in url:  # connect resolves ${env:NAME} in configs: a consumer must never name one
            raise ValueError("the push URL must not contain '$'")
        try:
            return check_endpoint_url(url)
        except ValueError as exc:
            raise ValueError(f"the push URL {exc}") from None


class PushSubscription(Conflict):
    code = "push_subscription"
    title = "Push subscription"


def connector_name(subscription_id: str) -> str:
    return CONNECTOR_PREFIX + subscription_id


def group_of(subscription_id: str) -> str:
    """The consumer group of a push subscription: its connector's, so both mean one place."""
    return connector_group(connector_name(subscription_id))


def refuse(found: Subscription, what: str) -> None:
    """409 if ``found`` is a push subscription: its records go to its endpoint, not to ``what``."""
    if found.push_url is not None:
        raise PushSubscription(
            f"subscription {found.id} is a push subscription: its records are delivered to its "
            f"endpoint by connector {connector_name(found.id)}, not by {what}"
        )


def document(found: Subscription) -> dict[str, Any] | None:
    """What GETs show of the push side (never the secret)."""
    if found.push_url is None:
        return None
    return {"url": found.push_url, "connector": connector_name(found.id)}


def connector_config(
    dataset: Dataset, agreement: Agreement, url: str, secret: str
) -> dict[str, Any]:
    return {
        "connector.class": PLUGIN,
        "dataset": f"{dataset.agency_id}.{dataset.name}",
        "agreement": agreement.id,
        # the agency it acts for: that agency's callers see this connector at connect's API
        "consumer": agreement.consumer_agency,
        "url": url,
        "secret": secret,
        # A record the endpoint refuses, or that cannot be decoded, goes to the connector's DLQ;
        # delivery goes on with the next.
        "errors.tolerance": "all",
    }


# --- connect's configs topic --------------------------------------------------------------------


class ConfigsWriter(Protocol):
    async def write(self, records: Sequence[Record]) -> None: ...

    def check_destination(self, url: str) -> None: ...


class PushDestination(Unprocessable):
    code = "push_destination_refused"
    title = "Push destination refused"


def check_destination(url: str, policy: DestinationPolicy) -> None:
    """Refuse, before anything is written, an endpoint whose host is a refused address however it
    is spelt (``127.1``, ``0x7f000001``, ``[::ffff:127.0.0.1]``, ``localhost.``): the requests come
    from the connect workers, inside the hub's network (SSRF). A name is judged again by the
    address it resolves to, by the sink, at every connection."""
    try:
        policy.check_url(url)
    except DestinationRefused as exc:
        raise PushDestination(f"the push URL is refused: {exc}") from None


async def start_connector(
    connect: ConfigsWriter, found: Subscription, dataset: Dataset, agreement: Agreement
) -> dict[str, Any]:
    """Write the connector of push subscription ``found``; its ``push`` document, with the
    signing secret (shown this once)."""
    assert found.push_url is not None  # noqa: S101 - only push subscriptions get here
    secret = secrets.token_urlsafe(SECRET_BYTES)
    name = connector_name(found.id)
    config = connector_config(dataset, agreement, found.push_url, secret)
    await connect.write(connector_records(name, config))
    return {"url": found.push_url, "secret": secret, "connector": name}


async def stop_connector(connect: ConfigsWriter, found: Subscription) -> None:
    await connect.write(deletion_records(connector_name(found.id)))


async def forget_connector(connect: ConfigsWriter, found: Subscription) -> None:
    """Delete the connector of a push subscription being undone, in case the write that failed
    was committed after all (a timeout cannot tell): never a connector without its subscription.
    Best effort, as Kafka is likely what failed."""
    try:
        await stop_connector(connect, found)
    except NdxpError as exc:
        log.warning("connector %s of an undone subscription: %s", connector_name(found.id), exc)


@dataclass(frozen=True)
class ConnectConfigs:
    """Connect's configs topic, written with the publish path's transactional producers."""

    pool: ProducerPool
    kafka: KafkaSettings
    bootstrap: str
    topic: str
    timeout: float
    policy: DestinationPolicy = field(default_factory=DestinationPolicy)

    def check_destination(self, url: str) -> None:
        check_destination(url, self.policy)

    async def write(self, records: Sequence[Record]) -> None:
        """Write ``records`` in one transaction; ``Unavailable`` (503, ``Retry-After``) if Kafka
        does not take them within ``timeout`` seconds, and then none of them is visible."""
        try:
            async with asyncio.timeout(self.timeout):
                # Connect creates the topic too; whichever comes first, it is compacted, with one
                # partition (never auto-created with the broker's defaults).
                spec = TopicSpec(self.topic, partitions=1, cleanup_policy="compact")
                await ensure_topic(self.kafka, spec, bootstrap=self.bootstrap)
                async with self.pool.producer() as producer:
                    await _transaction(producer, self.topic, records)
        except TimeoutError as exc:
            raise retry_later(f"Kafka did not take the write within {self.timeout:g} s") from exc
        except KafkaError as exc:  # not retriable, yet nothing the client could fix
            raise retry_later(f"Kafka refused the write: {exc}") from exc
        except NdxpError as exc:
            if exc.status < 500:  # noqa: PLR2004 - a 4xx here is the hub's setup, not the caller's
                raise retry_later(exc.message) from exc
            exc.headers.setdefault("Retry-After", RETRY_AFTER)
            raise


async def _transaction(producer: AIOKafkaProducer, topic: str, records: Sequence[Record]) -> None:
    try:
        with kafka_errors(f"Kafka topic {topic}"):
            async with producer.transaction():
                await send_batch(producer, topic, records)
    except BaseException as exc:  # the transaction's outcome is unknown: fence the producer
        raise Broken(exc) from exc


def retry_later(message: str) -> Unavailable:
    return Unavailable(
        f"connect's configs could not be written: {message}", headers={"Retry-After": RETRY_AFTER}
    )
