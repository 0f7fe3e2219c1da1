"""The answer of ``PUT /connector-plugins/{plugin}/config/validate``, in Kafka Connect's shape.

Kafka Connect answers a ``ConfigInfos``: ``{"name", "error_count", "groups", "configs"}``, each
config ``{"definition": ConfigKeyInfo, "value": ConfigValueInfo}``. The definitions come from the
JSON schema of the plugin's whole config (:func:`~services.connectors.configs.config_schema`: the
shared keys, group ``Common``, then the plugin's own, group ``<plugin>``), the values from the
config given (secrets masked) or the key's default. Every key of the plugin is listed, given or
not; a key it does not have is listed too, with its error. An error about a part of a key
(``auth.token_url``) is listed under the key (``auth``), its message starting with the path.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from services.connectors.configs import CLASS, config_errors, config_schema, keys_model
from services.connectors.plugin import Connector
from services.connectors.secrets import masked_config

COMMON: Final = "Common"
_TYPES: Final = {
    "string": "STRING",
    "integer": "LONG",
    "number": "DOUBLE",
    "boolean": "BOOLEAN",
    "array": "LIST",
    "object": "MAP",
}


def config_infos(
    plugin: str,
    cls: type[Connector],
    config: Mapping[str, Any],
    more: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The validate answer for ``config`` given to plugin ``plugin`` (class ``cls``); ``more``:
    errors found besides the config's own (the worker's guard rails)."""
    errors = [*config_errors(config, plugin), *more]
    schema = config_schema(cls)
    shared = set(keys_model(cls).model_json_schema()["properties"])
    required = set(schema.get("required", ()))
    shown = masked_config(config)
    by_key: dict[str, list[str]] = {}
    for error in errors:
        top, _, rest = error["name"].partition(".")
        whole = error["name"] in schema["properties"] or error["name"] in shown or not rest
        key = error["name"] if whole else top
        message = (
            error["message"] if key == error["name"] else f"{error['name']}: {error['message']}"
        )
        by_key.setdefault(key, []).append(message)
    order = {COMMON: 0, plugin: 0}
    configs = []
    for name, prop in schema["properties"].items():
        group = COMMON if name in shared else plugin
        order[group] += 1
        definition = _definition(name, prop, group, order[group], name in required)
        value = shown.get(name, plugin if name == CLASS else prop.get("default"))
        configs.append(_config(definition, value, by_key, prop))
    for name in sorted(set(shown) - set(schema["properties"])):
        definition = _definition(
            name, {"description": "Not a key of this plugin."}, plugin, 0, False
        )
        configs.append(_config(definition, shown[name], by_key, {}))
    for name in sorted(set(by_key) - {c["value"]["name"] for c in configs}):
        definition = _definition(name, {}, COMMON, 0, False)
        configs.append(_config(definition, None, by_key, {}))
    return {
        "name": plugin,
        "error_count": len(errors),
        "groups": [COMMON, plugin],
        "configs": configs,
    }


def _definition(
    name: str, prop: Mapping[str, Any], group: str, order: int, required: bool
) -> dict[str, Any]:
    default = prop.get("default")
    return {
        "name": name,
        "type": _type(prop),
        "required": required,
        "default_value": None if "default" not in prop else _text(default),
        "importance": "HIGH" if required else "MEDIUM",
        "documentation": prop.get("description", ""),
        "group": group,
        "order": order,
        "width": "NONE",
        "display_name": name,
        "dependents": [],
    }


def _config(
    definition: dict[str, Any], value: Any, errors: Mapping[str, list[str]], prop: Mapping[str, Any]
) -> dict[str, Any]:
    name = definition["name"]
    return {
        "definition": definition,
        "value": {
            "name": name,
            "value": value,
            "recommended_values": _choices(prop),
            "errors": errors.get(name, []),
            "visible": True,
        },
    }


def _type(prop: Mapping[str, Any]) -> str:
    if prop.get("format") == "password" or prop.get("writeOnly"):
        return "PASSWORD"
    kinds = [prop, *prop.get("anyOf", ())]
    if any("$ref" in kind or "oneOf" in kind for kind in kinds):
        return "MAP"  # a nested model, or a choice of them told apart by their type
    found = [k["type"] for k in kinds if isinstance(k.get("type"), str) and k["type"] != "null"]
    return _TYPES.get(found[0], "STRING") if found else "STRING"


def _choices(prop: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    for kind in (prop, *prop.get("anyOf", ())):
        found.extend(str(choice) for choice in kind.get("enum", ()) if choice is not None)
    return found


def _text(value: Any) -> str | None:
    """A default as Kafka Connect shows one: text (JSON for lists and objects)."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)
