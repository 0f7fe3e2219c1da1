"""A connector's config: the worker's keys (``connector.class``, ``dataset``,
``errors.tolerance``, ``transforms``, ``agreement``...) and the plugin's own, checked by the
plugin's ``Config`` model after ``${env:NAME}`` references are resolved
(:mod:`services.connectors.secrets`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from pydantic import ValidationError

from services.connectors.plugin import Connector, PluginConfig, plugins
from services.connectors.secrets import UnresolvedReference, resolve
from services.connectors.transforms import Transforms, build_transforms
from services.core.errors import BadRequest
from services.core.kafka.topics import InvalidName, check_agency, check_dataset

CLASS: Final = "connector.class"
DATASET: Final = "dataset"
TOLERANCE: Final = "errors.tolerance"
TRANSFORMS: Final = "transforms"
AGREEMENT: Final = "agreement"
# "name" and "tasks.max" are Kafka Connect's own keys, accepted for familiarity: a connector
# is one task here.
WORKER_KEYS: Final = frozenset(
    {CLASS, DATASET, TOLERANCE, TRANSFORMS, AGREEMENT, "name", "tasks.max"}
)
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
    transforms: Transforms
    agreement: str | None = None  # sinks: deliver under this agreement's grant


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
    try:
        build_transforms(resolve(raw.get(TRANSFORMS)))
    except ValueError as exc:
        errors.append({"name": TRANSFORMS, "message": str(exc)})
    agreement = raw.get(AGREEMENT)
    if agreement is not None and (cls is None or cls.kind != "sink" or not _is_id(agreement)):
        errors.append({"name": AGREEMENT, "message": "an agreement id, for sink connectors"})
    if cls is not None:
        try:
            cls.Config.model_validate(resolve(_plugin_keys(raw)))
        except UnresolvedReference as exc:
            errors.append({"name": CLASS, "message": str(exc)})
        except ValidationError as exc:
            errors.extend(
                {"name": ".".join(map(str, err["loc"])) or CLASS, "message": err["msg"]}
                for err in exc.errors()
            )
    return errors


def _is_id(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 64  # noqa: PLR2004 - agreement ids


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
    settings = cls.Config.model_validate(resolve(_plugin_keys(raw)))
    transforms = build_transforms(resolve(raw.get(TRANSFORMS)))
    agreement = raw.get(AGREEMENT)
    return ConnectorConfig(
        dict(raw),
        plugin,
        cls,
        agency,
        dataset,
        tolerance,
        settings,
        transforms,
        str(agreement) if agreement is not None else None,
    )
