"""A schema's ``metadata`` and ``ruleSet``: Confluent's data contracts, checked and normalized.

Clients send them with a schema (``POST /subjects/{s}/versions`` and ``POST /subjects/{s}``) and
get them back on every read of it. The registry keeps them as given, in Confluent's canonical
form (tag paths, properties and sets sorted; a rule's ``kind`` and ``mode`` defaulted to
``TRANSFORM`` and ``WRITEREAD``), and they are part of what makes a schema *the same schema*:
the same text with other metadata is another schema, with an id of its own, as in Confluent.

- ``metadata``: ``{"tags": {path: [tag]}, "properties": {key: value}, "sensitive": [key]}``.
  A tag path names a field as ``<record full name>.<field>``, with Confluent's wildcards
  (``*`` within a name, ``**`` across names); ndxp reads the ``PII`` tag as personal data
  (:mod:`services.core.avro.pii`).
- ``ruleSet``: ``{"migrationRules": [rule], "domainRules": [rule], "encodingRules": [rule],
  "enableAt": env}``; a rule is ``{name, doc?, kind, mode, type, tags?, params?, expr?,
  onSuccess?, onFailure?, disabled}``. ndxp stores rules and returns them; it runs none.

A value of the wrong shape is refused with 400 (what Confluent answers to a body its entities
cannot map), a rule Confluent's ``RuleSet.validate`` refuses with 422/42210, and anything past
the bounds below with 400: hostile input never reaches the store.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from services.core.avro.names import named_types
from services.registry.errors import InvalidRuleSet, MalformedDataContract

MAX_BYTES: Final = 64 * 1024  # each of metadata and ruleSet, as compact JSON
MAX_ENTRIES: Final = 1024  # tag paths, properties, sensitive keys, rules: each
MAX_TEXT: Final = 4096  # a key, tag, name, parameter or property value (an expr: MAX_BYTES)
MAX_WILDCARDS: Final = 32  # in a tag path: matching costs this times a field name's length
# Tag paths x record fields: every read of a contract's personal data matches each field against
# each path (services.core.avro.pii.with_metadata_tags), a few microseconds a pair.
MAX_TAG_MATCHES: Final = 20_000  # ~0.5 s of matching at the bound, hostile wildcards
RULE_NAME_MAX: Final = 256  # Confluent's Rule.NAME_MAX_LENGTH
RULE_LISTS: Final = ("migrationRules", "domainRules", "encodingRules")
RULE_KINDS: Final = ("TRANSFORM", "CONDITION")
MIGRATION_MODES: Final = ("UPGRADE", "DOWNGRADE", "UPDOWN")
DOMAIN_MODES: Final = ("WRITE", "READ", "WRITEREAD")
ENVIRONMENTS: Final = ("ALL", "CLIENT", "GATEWAY", "SERVER", "NONE")
_RULE_TEXTS: Final = ("doc", "expr", "onSuccess", "onFailure")


def check_metadata(value: Any) -> dict[str, Any] | None:
    """``metadata`` in canonical form; None when absent (JSON ``null`` or left out)."""
    if value is None:
        return None
    body = _object(value, "metadata")
    found: dict[str, Any] = {}
    tags = _object(_part(body, "tags", {}), "metadata.tags")
    _count(tags, "metadata.tags")
    if tags:
        found["tags"] = {
            _tag_path(path): _strings(tags[path], f"metadata.tags[{path!r}]")
            for path in sorted(tags)
        }
    properties = _object(_part(body, "properties", {}), "metadata.properties")
    _count(properties, "metadata.properties")
    if properties:
        found["properties"] = {
            _text(key, "a metadata.properties key"): _text(
                properties[key], f"metadata.properties[{key!r}]"
            )
            for key in sorted(properties)
        }
    if sensitive := _strings(_part(body, "sensitive", []), "metadata.sensitive"):
        found["sensitive"] = sensitive
    return _bounded(found, "metadata")


def check_tag_matches(
    metadata: dict[str, Any] | None, schema: Any, named: Mapping[str, Any]
) -> None:
    """Refuse ``metadata`` whose tag paths, matched against every field of ``schema`` and of the
    types it references (``named``), would cost more than :data:`MAX_TAG_MATCHES` matches: a
    schema's personal data is read from them on every look-up of its contract."""
    paths = len((metadata or {}).get("tags", {}))
    if not paths:
        return
    definitions = [*named_types(schema).values(), *named.values()]
    fields = sum(
        len(d.get("fields") or [])
        for d in definitions
        if isinstance(d, dict) and d.get("type") in ("record", "error")
    )
    if paths * fields > MAX_TAG_MATCHES:
        raise MalformedDataContract(
            f"metadata.tags has {paths} paths for {fields} fields: more than "
            f"{MAX_TAG_MATCHES} path-field pairs to match"
        )


def check_rule_set(value: Any) -> dict[str, Any] | None:
    """``ruleSet`` in canonical form; None when absent. Checks what Confluent's ``validate``
    checks: rule names unique across the lists and well formed, a type, modes fitting the list,
    several actions only for ``WRITEREAD`` and ``UPDOWN``."""
    if value is None:
        return None
    body = _object(value, "ruleSet")
    found: dict[str, Any] = {}
    names: set[str] = set()
    for key, modes in zip(RULE_LISTS, (MIGRATION_MODES, DOMAIN_MODES, DOMAIN_MODES), strict=True):
        rules = _part(body, key, [])
        if not isinstance(rules, list):
            raise MalformedDataContract(f"ruleSet.{key} must be a list of rules")
        _count(rules, f"ruleSet.{key}")
        if rules:
            found[key] = [
                _rule(rule, f"ruleSet.{key}[{i}]", modes, names) for i, rule in enumerate(rules)
            ]
    enable_at = body.get("enableAt")
    if enable_at is not None:
        found["enableAt"] = _choice(enable_at, ENVIRONMENTS, "ruleSet.enableAt")
    return _bounded(found, "ruleSet")


def _tag_path(path: str) -> str:
    _text(path, "a metadata.tags path")
    if path.count("*") + path.count("?") > MAX_WILDCARDS:
        raise MalformedDataContract(
            f"metadata.tags path {path[:64]!r}... has more than {MAX_WILDCARDS} wildcards"
        )
    return path


def _rule(value: Any, where: str, modes: tuple[str, ...], names: set[str]) -> dict[str, Any]:
    body = _object(value, where)
    name = body.get("name")
    if name is None:
        raise InvalidRuleSet(f"{where}: Missing rule name")
    name = _text(name, f"{where}.name")
    _rule_name(name, where)
    if name in names:
        raise InvalidRuleSet(f"{where}: Found rule with duplicate name '{name}'")
    names.add(name)
    kind = _choice(_part(body, "kind", "TRANSFORM"), RULE_KINDS, f"{where}.kind")
    mode = _choice(
        _part(body, "mode", "WRITEREAD"), (*MIGRATION_MODES, *DOMAIN_MODES), f"{where}.mode"
    )
    if mode not in modes:
        which = "Migration" if modes == MIGRATION_MODES else "Domain"
        raise InvalidRuleSet(f"{where}: {which} rules can only be {', '.join(modes)}")
    if body.get("type") is None:
        raise InvalidRuleSet(f"{where}: Missing rule type")
    rule: dict[str, Any] = {"name": name, "kind": kind, "mode": mode}
    rule["type"] = _text(body["type"], f"{where}.type")
    for key in _RULE_TEXTS:
        if body.get(key) is not None:
            rule[key] = _text(body[key], f"{where}.{key}", MAX_BYTES)
    for action in ("onSuccess", "onFailure"):
        if "," in rule.get(action, "") and mode not in ("WRITEREAD", "UPDOWN"):
            raise InvalidRuleSet(f"{where}: Multiple actions only valid with WRITEREAD and UPDOWN")
    if tags := _strings(_part(body, "tags", []), f"{where}.tags"):
        rule["tags"] = tags
    params = _object(_part(body, "params", {}), f"{where}.params")
    _count(params, f"{where}.params")
    if params:
        rule["params"] = {
            _text(k, f"a {where}.params key"): _text(params[k], f"{where}.params[{k!r}]")
            for k in sorted(params)
        }
    disabled = body.get("disabled", False)
    if not isinstance(disabled, bool):
        raise MalformedDataContract(f"{where}.disabled must be true or false")
    rule["disabled"] = disabled
    return rule


def _rule_name(name: str, where: str) -> None:
    if not name:
        raise InvalidRuleSet(f"{where}: Empty rule name")
    if len(name) > RULE_NAME_MAX:
        raise InvalidRuleSet(f"{where}: Rule name too long")
    if not (name[0].isalpha() or name[0] == "_"):
        raise InvalidRuleSet(f"{where}: Illegal initial character in rule name: {name}")
    if not all(c.isalnum() or c in "_-" for c in name[1:]):
        raise InvalidRuleSet(f"{where}: Illegal character in rule name: {name}")


def _part(body: dict[str, Any], key: str, empty: Any) -> Any:
    """``body[key]``, or ``empty`` when it is left out or null (never when it is ``[]``)."""
    value = body.get(key)
    return empty if value is None else value


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedDataContract(f"{where} must be a JSON object")
    return value


def _text(value: Any, where: str, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise MalformedDataContract(f"{where} must be a string")
    if len(value) > limit:
        raise MalformedDataContract(f"{where} is longer than {limit} characters")
    return value


def _strings(value: Any, where: str) -> list[str]:
    """A set of strings, as Confluent keeps it: sorted, each once."""
    if not isinstance(value, list):
        raise MalformedDataContract(f"{where} must be a list of strings")
    _count(value, where)
    return sorted({_text(item, f"an item of {where}") for item in value})


def _choice(value: Any, allowed: tuple[str, ...], where: str) -> str:
    if not isinstance(value, str) or value.upper() not in allowed:
        raise MalformedDataContract(f"{where} must be one of {', '.join(allowed)}: {value!r}")
    return value.upper()


def _count(items: dict[str, Any] | list[Any], where: str) -> None:
    if len(items) > MAX_ENTRIES:
        raise MalformedDataContract(f"{where} has more than {MAX_ENTRIES} entries")


def _bounded(found: dict[str, Any], where: str) -> dict[str, Any]:
    if len(canonical(found)) > MAX_BYTES:
        raise MalformedDataContract(f"{where} is larger than {MAX_BYTES} bytes")
    return found


def canonical(value: Any) -> str:
    """One spelling of a JSON value: the text a schema's identity is computed over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
