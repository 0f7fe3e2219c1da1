"""The plugin API: what a connector is, and how the worker finds them.

A plugin is a class registered under the ``ndxp.connectors`` entry-point group (the built-in ones
too, in ndxp's own ``pyproject.toml``), so a third party adds one with ``pip install``. It declares
its settings as a pydantic model (``Config``, rendered as JSON schema by ``GET /connector-plugins``)
and is a :class:`SourceConnector` (poll a system, give rows as records of a dataset's contract) or a
:class:`SinkConnector` (records of a dataset to a system; the interface only, so far).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

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


class SinkConnector(Connector):
    """Delivers a dataset's records to a system (webhook and SQL sinks come in a later
    increment; the worker does not run sinks yet)."""

    kind = "sink"

    @abstractmethod
    async def put(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Write ``records``; return only once the target accepted them all."""


@cache
def plugins() -> dict[str, type[Connector]]:
    """Every installed plugin class, by its entry-point name (``sql-source``, ...)."""
    found: dict[str, type[Connector]] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        cls = entry.load()
        if isinstance(cls, type) and issubclass(cls, Connector):
            found[entry.name] = cls
    return found


def describe(name: str, cls: type[Connector]) -> dict[str, Any]:
    """A plugin as ``GET /connector-plugins`` lists it."""
    return {
        "class": name,
        "type": cls.kind,
        "version": cls.version,
        "config_schema": cls.Config.model_json_schema(),
    }
