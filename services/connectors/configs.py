"""A connector's config: the worker's keys (``connector.class``, ``dataset``,
``errors.tolerance``, ...) and the plugin's own, checked by the plugin's ``Config`` model."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from pydantic import ValidationError

from services.connectors.plugin import Connector, PluginConfig, plugins
from services.core.errors import BadRequest
from services.core.kafka.topics import InvalidName, check_agency, check_dataset

CLASS: Final = "connector.class"
DATASET: Final = "dataset"
TOLERANCE: Final = "errors.tolerance"
# Kafka Connect's own keys, accepted for familiarity: one task per connector in this increment.
WORKER_KEYS: Final = frozenset({CLASS, DATASET, TOLERANCE, "name", "tasks.max"})
Tolerance = Literal["none", "all"]


class ConfigInvalid(BadRequest):
    code = "invalid_connector_config"
    title = "Invalid connector config"


@dataclass(frozen=True)
class ConnectorConfig:
    """A checked config: the plugin class, the dataset, the tolerance and the plugin's settings."""

    raw: Mapping[str, Any]
    plugin: str
    cls: type[Connector]
    agency: str
    dataset: str
    tolerance: Tolerance
    settings: PluginConfig


def config_errors(raw: Mapping[str, Any], plugin: str | None = None) -> list[dict[str, Any]]:
    """Every problem of ``raw`` as ``{"name", "message"}``; empty when it is valid."""
    errors: list[dict[str, Any]] = []
    name = raw.get(CLASS, plugin)
    if plugin is not None and raw.get(CLASS, plugin) != plugin:
        errors.append({"name": CLASS, "message": f"must be {plugin!r} at this URL"})
    cls = plugins().get(name) if isinstance(name, str) else None
    if cls is None:
        known = ", ".join(sorted(plugins()))
        errors.append({"name": CLASS, "message": f"unknown plugin {name!r}; installed: {known}"})
    errors.extend(_dataset_errors(raw.get(DATASET)))
    if raw.get(TOLERANCE, "none") not in ("none", "all"):
        errors.append({"name": TOLERANCE, "message": "must be 'none' or 'all'"})
    if cls is not None:
        try:
            cls.Config.model_validate(_plugin_keys(raw))
        except ValidationError as exc:
            errors.extend(
                {"name": ".".join(map(str, err["loc"])) or CLASS, "message": err["msg"]}
                for err in exc.errors()
            )
    return errors


def _dataset_errors(dataset: Any) -> list[dict[str, Any]]:
    if not isinstance(dataset, str) or dataset.count(".") != 1:
        return [{"name": DATASET, "message": "required: '<agency>.<dataset>'"}]
    agency, name = dataset.split(".")
    try:
        check_agency(agency)
        check_dataset(name)
    except InvalidName as exc:
        return [{"name": DATASET, "message": exc.message}]
    return []


def _plugin_keys(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in raw.items() if key not in WORKER_KEYS}


def parse_config(raw: Mapping[str, Any]) -> ConnectorConfig:
    """The checked config, or :class:`ConfigInvalid` (400) listing every error."""
    errors = config_errors(raw)
    if errors:
        raise ConfigInvalid(
            f"connector config has {len(errors)} error(s): {errors[0]['message']}", errors=errors
        )
    plugin = str(raw[CLASS])
    cls = plugins()[plugin]
    agency, dataset = str(raw[DATASET]).split(".")
    tolerance: Tolerance = "all" if raw.get(TOLERANCE) == "all" else "none"
    settings = cls.Config.model_validate(_plugin_keys(raw))
    return ConnectorConfig(dict(raw), plugin, cls, agency, dataset, tolerance, settings)
