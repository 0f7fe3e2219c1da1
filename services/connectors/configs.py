"""A connector's config: the keys every connector takes (:class:`SharedKeys`, :class:`SinkKeys`:
``connector.class``, ``dataset``, ``errors.tolerance``, ``transforms``, ``agreement`` and ``start``
for sinks) and the plugin's own, checked by the plugin's ``Config`` model, both after
``${env:NAME}`` references are resolved (:mod:`services.connectors.secrets`).

The shared keys are one pydantic model: the parser checks a config with it, and
``GET /connector-plugins`` and ``.../config/validate`` describe the keys from its JSON schema
(types, defaults, docs), so the API cannot tell something the worker does not do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from pydantic_core import ErrorDetails

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
CONSUMER: Final = "consumer"
START: Final = "start"
Tolerance = Literal["none", "all"]
Start = Literal["earliest", "latest"] | datetime


class ConfigInvalid(BadRequest):
    code = "invalid_connector_config"
    title = "Invalid connector config"


def _dataset(value: str) -> str:
    agency, dot, name = value.partition(".")
    if not dot or "." in name:
        raise ValueError("'<agency>.<dataset>', e.g. moh.vaccinations")
    try:
        check_agency(agency)
        check_dataset(name)
    except InvalidName as exc:
        raise ValueError(exc.message) from None
    return value


def _agency(value: str) -> str:
    try:
        check_agency(value)
    except InvalidName as exc:
        raise ValueError(exc.message) from None
    return value


def _transforms(value: list[dict[str, Any]]) -> list[dict[str, Any]]:
    build_transforms(resolve(value))  # raises ValueError naming the transform and the problem
    return value


def _start(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    try:
        return handler(value)
    except ValidationError:  # one message, not one per branch of the union
        raise ValueError(
            "latest, earliest, or an ISO 8601 time with a UTC offset "
            "(e.g. 2025-03-14T09:00:00+07:00)"
        ) from None


class SharedKeys(BaseModel):
    """The keys every connector takes besides its plugin's own."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        title="Keys of every connector",
        field_title_generator=lambda name, field: field.alias or name,
    )

    connector_class: str = Field(
        alias=CLASS, description="The plugin: its name in the ndxp.connectors entry points."
    )
    dataset: Annotated[str, AfterValidator(_dataset)] = Field(
        description="'<agency>.<dataset>': a source writes its records, a sink reads them."
    )
    errors_tolerance: Tolerance = Field(
        default="all",
        alias=TOLERANCE,
        description="all: a record that cannot be mapped, converted, validated or delivered "
        "goes to the DLQ ndxp.dlq.<connector> with the reason in its headers, and the connector "
        "goes on; none: the first such record fails the connector (nothing of its batch is "
        "written or committed).",
    )
    transforms: Annotated[list[dict[str, Any]], AfterValidator(_transforms)] = Field(
        default=[],  # pydantic copies it: a literal, so the schema shows the default
        description="Transforms applied to every record in order, each an object with a type: "
        "rename, drop, cast, mask, hash, key, insert.",
    )
    name: str | None = Field(
        default=None, description="Kafka Connect's key, accepted for familiarity; not used."
    )
    tasks_max: int | str | None = Field(
        default=None,
        alias="tasks.max",
        description="Kafka Connect's key, accepted for familiarity: a connector is one task.",
    )


class SinkKeys(SharedKeys):
    """The keys every sink connector takes besides its plugin's own."""

    model_config = ConfigDict(title="Keys of every sink connector")

    agreement: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Deliver under this agreement: only the fields it grants, only while it "
        "is active; deliveries are counted and audited.",
    )
    consumer: Annotated[str, AfterValidator(_agency)] | None = Field(
        default=None,
        description="The agency the sink delivers for (a push subscription's consumer): callers "
        "of that agency without the admin scope see this connector, and only such connectors.",
    )
    start: Annotated[Literal["earliest", "latest"] | AwareDatetime, WrapValidator(_start)] = Field(
        default="latest",
        description="Where the sink starts when its consumer group has no committed offsets "
        "(its first run): latest (only records written from then on), earliest (everything the "
        "topic keeps) or an ISO 8601 time with a UTC offset (the first record at or after it). "
        "Later runs continue from the commits.",
    )


def keys_model(cls: type[Connector]) -> type[SharedKeys]:
    """The shared keys a plugin of ``cls``'s kind takes."""
    return SinkKeys if cls.kind == "sink" else SharedKeys


def _aliases(model: type[BaseModel]) -> frozenset[str]:
    return frozenset(field.alias or name for name, field in model.model_fields.items())


SHARED: Final = _aliases(SharedKeys)
SINK_ONLY: Final = _aliases(SinkKeys) - SHARED
WORKER_KEYS: Final = SHARED | SINK_ONLY


@dataclass(frozen=True)
class ConnectorConfig:
    """A checked config: the plugin, the dataset, the shared keys and the plugin's settings."""

    raw: Mapping[str, Any]
    plugin: str
    cls: type[Connector]
    agency: str
    dataset: str
    tolerance: Tolerance
    settings: PluginConfig
    transforms: Transforms
    agreement: str | None = None  # sinks: deliver under this agreement's grant
    start: Start = "latest"  # sinks: where a group without commits starts


def config_errors(raw: Mapping[str, Any], plugin: str | None = None) -> list[dict[str, Any]]:
    """Every problem of ``raw`` as ``{"name", "message"}`` (``name``: the top-level key, or a
    dotted path into it); empty when it is valid."""
    errors: list[dict[str, Any]] = []
    name = raw.get(CLASS, plugin)
    if plugin is not None and name != plugin:
        errors.append({"name": CLASS, "message": f"must be {plugin!r} at this URL"})
    cls = plugins().get(name) if isinstance(name, str) else None
    if cls is None:
        known = ", ".join(sorted(plugins()))
        errors.append({"name": CLASS, "message": f"unknown plugin {name!r}; installed: {known}"})
    model = SinkKeys if cls is None else keys_model(cls)
    shared = {key: value for key, value in raw.items() if key in WORKER_KEYS}
    for key in sorted(set(shared) - _aliases(model)):
        errors.append({"name": key, "message": "a key of sink connectors only"})
        del shared[key]
    errors.extend(_errors(model, {CLASS: name, **shared}, skip=CLASS))
    if cls is not None:
        errors.extend(_errors(cls.Config, _plugin_keys(raw)))
    return errors


def _errors(
    model: type[BaseModel], raw: Mapping[str, Any], skip: str | None = None
) -> list[dict[str, Any]]:
    try:
        model.model_validate(resolve(raw))
    except UnresolvedReference as exc:
        return [{"name": CLASS, "message": str(exc)}]
    except ValidationError as exc:
        found = [_error(error) for error in exc.errors()]
        return [error for error in found if error["name"] != skip]
    return []


def _error(error: ErrorDetails) -> dict[str, Any]:
    ctx = error.get("ctx", {})
    message = (
        str(ctx["error"]) if error["type"] == "value_error" and "error" in ctx else error["msg"]
    )
    return {"name": ".".join(map(str, error["loc"])) or CLASS, "message": message}


def _plugin_keys(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in raw.items() if key not in WORKER_KEYS}


@cache
def config_schema(cls: type[Connector]) -> dict[str, Any]:
    """The JSON schema of a plugin's whole config: the shared keys and the plugin's own."""
    shared = keys_model(cls).model_json_schema()
    own = cls.Config.model_json_schema()
    return {
        "title": own.get("title", cls.__name__),
        "type": "object",
        "properties": {**shared["properties"], **own.get("properties", {})},
        "required": [*shared.get("required", ()), *own.get("required", ())],
        "additionalProperties": False,
        "$defs": {**shared.get("$defs", {}), **own.get("$defs", {})},
    }


def describe(name: str, cls: type[Connector]) -> dict[str, Any]:
    """A plugin as ``GET /connector-plugins`` lists it."""
    return {
        "class": name,
        "type": cls.kind,
        "version": cls.version,
        "config_schema": config_schema(cls),
    }


def parse_config(raw: Mapping[str, Any]) -> ConnectorConfig:
    """The checked config, or :class:`ConfigInvalid` (400) listing every error."""
    errors = config_errors(raw)
    if errors:
        raise ConfigInvalid(
            f"connector config has {len(errors)} error(s): {errors[0]['message']}", errors=errors
        )
    plugin = str(raw[CLASS])
    cls = plugins()[plugin]
    shared = {key: value for key, value in raw.items() if key in WORKER_KEYS}
    keys = keys_model(cls).model_validate(resolve(shared))
    agency, dataset = keys.dataset.split(".")
    return ConnectorConfig(
        dict(raw),
        plugin,
        cls,
        agency,
        dataset,
        keys.errors_tolerance,
        cls.Config.model_validate(resolve(_plugin_keys(raw))),
        build_transforms(resolve(keys.transforms)),
        keys.agreement if isinstance(keys, SinkKeys) else None,
        keys.start if isinstance(keys, SinkKeys) else "latest",
    )
