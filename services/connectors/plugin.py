"""The plugin API: what a connector is, and how the worker finds them.

A plugin is a class registered under the ``ndxp.connectors`` entry-point group (the built-in ones
too, in ndxp's own ``pyproject.toml``), so a third party adds one with ``pip install``. It declares
its settings as a pydantic model (``Config``, rendered as JSON schema by ``GET /connector-plugins``)
and is a :class:`SourceConnector` (poll a system, give rows as records of a dataset's contract) or a
:class:`SinkConnector` (a dataset's records, decoded and projected to what an agreement grants, to
a system). Transforms (:mod:`services.connectors.transforms`) are the worker's business: a plugin
sees and gives records without them.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "ndxp.connectors"
Offset = dict[str, Any]


class PluginConfig(BaseModel):
    """Base of every plugin's settings: unknown keys are errors (a typo never passes silently)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class SourceRecord:
    """One row of the source as a record of the contract, or why it could not be mapped.

    ``position`` (JSON) names the row in the source: it goes to the DLQ's
    ``ndxp-source-position`` header and makes the record's event id deterministic.
    """

    position: Mapping[str, Any]
    value: Mapping[str, Any] | None
    key: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Batch:
    """What one poll found, and the source offset to commit once it is all written.

    ``more`` says the source has more right away (poll again without waiting).
    """

    records: Sequence[SourceRecord]
    offset: Offset | None
    more: bool = False


class Connector(ABC):
    kind: ClassVar[Literal["source", "sink"]]
    Config: ClassVar[type[PluginConfig]] = PluginConfig
    version: ClassVar[str] = "0.1.0"

    def __init__(self, name: str, config: PluginConfig) -> None:
        self.name = name
        self.config = config

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Open connections; errors here are retried like a failed poll."""

    async def stop(self) -> None:  # noqa: B027 - optional hook
        """Close what :meth:`start` opened; called once, whatever happened."""

    @property
    def poll_interval(self) -> float:
        """Seconds to wait after a poll that found nothing more."""
        return float(getattr(self.config, "poll_interval_seconds", 1.0))


class SourceConnector(Connector):
    """Polls a system; the worker validates, encodes, writes and commits what it returns."""

    kind = "source"

    @abstractmethod
    async def poll(self, offset: Offset | None) -> Batch:
        """The rows after ``offset`` (None: from the start) and the offset after them."""

    async def backlog(self, offset: Offset | None) -> int | None:
        """How many records the source holds after ``offset``, if it can tell cheaply (None: it
        cannot). The worker asks every few seconds and exports the answer as
        ``ndxp_connector_source_lag_records``; a failure is logged and the gauge kept."""
        return None


@dataclass(frozen=True)
class SinkRecord:
    """One record of the dataset as a sink receives it.

    ``value`` is the decoded record (Python values: ``datetime``, ``Decimal``, ``bytes``...) and
    ``json`` the same record in the codec's canonical JSON form; under an agreement both hold only
    the granted fields. ``value`` is None for a record that could not be decoded (``error`` says
    why); the worker sends such records to the DLQ and never to the plugin.
    """

    topic: str
    partition: int
    offset: int
    timestamp: int  # the Kafka record's, epoch milliseconds
    key: str | None
    event_id: str | None
    headers: Mapping[str, str]
    value: Mapping[str, Any] | None
    json: Mapping[str, Any] | None
    error: str | None = None


@dataclass(frozen=True)
class Rejected:
    """A record the target refused for good (after the plugin's own retries): to the DLQ."""

    record: SinkRecord
    reason: str


class SinkConnector(Connector):
    """Delivers a dataset's records to a system. The worker consumes the dataset's topic in the
    connector's consumer group, decodes, projects and transforms each record, calls :meth:`put`
    with a batch, writes what it rejected to the DLQ and only then commits the consumer offsets."""

    kind = "sink"

    @abstractmethod
    async def put(self, records: Sequence[SinkRecord]) -> Sequence[Rejected]:
        """Deliver ``records`` in order; return only once the target accepted every record but
        the returned ones. Raise for a failure of the whole batch (the target is down): the
        worker retries the batch with back-off and fails the connector after its retry budget."""


@cache
def plugins() -> dict[str, type[Connector]]:
    """Every installed plugin class, by its entry-point name (``sql-source``, ...)."""
    found: dict[str, type[Connector]] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = entry.load()
        except Exception:  # a broken third-party plugin must not take the worker down
            log.exception("connector plugin %s (%s) cannot be loaded", entry.name, entry.value)
            continue
        if isinstance(cls, type) and issubclass(cls, Connector):
            found[entry.name] = cls
        else:
            log.error("connector plugin %s (%s) is not a Connector class", entry.name, entry.value)
    return found
