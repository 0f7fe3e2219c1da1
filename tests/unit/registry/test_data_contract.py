"""``metadata`` and ``ruleSet`` as the registry keeps them: Confluent's canonical form, and
refusals that say what is wrong (400 for a shape, 422/42210 for a rule Confluent refuses)."""

from __future__ import annotations

from typing import Any

import pytest

from services.registry.data_contract import MAX_BYTES, MAX_ENTRIES, check_metadata, check_rule_set
from services.registry.errors import InvalidRuleSet, MalformedDataContract


def test_metadata_is_sorted_and_empty_parts_left_out() -> None:
    given = {
        "tags": {"b.f": ["PII", "GDPR", "PII"], "a.f": ["X"]},
        "properties": {"owner": "mps", "email": "x@y"},
        "sensitive": ["owner", "email"],
        "unknown": "ignored, as Confluent's client ignores it",
    }
    assert check_metadata(given) == {
        "tags": {"a.f": ["X"], "b.f": ["GDPR", "PII"]},
        "properties": {"email": "x@y", "owner": "mps"},
        "sensitive": ["email", "owner"],
    }
    assert check_metadata({"tags": {}, "properties": None}) == {}
    assert check_metadata({"tags": {"*?" * 16: ["PII"]}}) == {"tags": {"*?" * 16: ["PII"]}}
    assert check_metadata(None) is None


def rule(**extra: Any) -> dict[str, Any]:
    return {"name": "checkId", "type": "CEL", "expr": "message.id != ''"} | extra


def test_rules_get_confluent_defaults() -> None:
    found = check_rule_set({"domainRules": [rule(tags=["PII", "A"], params={"b": "1", "a": "2"})]})
    assert found == {
        "domainRules": [
            {
                "name": "checkId",
                "kind": "TRANSFORM",
                "mode": "WRITEREAD",
                "type": "CEL",
                "expr": "message.id != ''",
                "tags": ["A", "PII"],
                "params": {"a": "2", "b": "1"},
                "disabled": False,
            }
        ]
    }
    migration = check_rule_set({"migrationRules": [rule(mode="upgrade")], "enableAt": "client"})
    assert migration is not None
    assert migration["migrationRules"][0]["mode"] == "UPGRADE"
    assert migration["enableAt"] == "CLIENT"


@pytest.mark.parametrize(
    ("rule_set", "message"),
    [
        ({"domainRules": [rule(), rule()]}, "Found rule with duplicate name 'checkId'"),
        ({"domainRules": [rule(name=None)]}, "Missing rule name"),
        ({"domainRules": [rule(name="")]}, "Empty rule name"),
        ({"domainRules": [rule(name="9lives")]}, "Illegal initial character"),
        ({"domainRules": [rule(name="a b")]}, "Illegal character in rule name"),
        ({"domainRules": [rule(name="a" * 257)]}, "Rule name too long"),
        ({"domainRules": [rule(type=None)]}, "Missing rule type"),
        ({"domainRules": [rule(mode="UPGRADE")]}, "Domain rules can only be WRITE, READ"),
        ({"migrationRules": [rule(mode="WRITE")]}, "Migration rules can only be UPGRADE"),
        ({"domainRules": [rule(mode="WRITE", onFailure="ERROR,NONE")]}, "Multiple actions"),
        ({"migrationRules": [rule(mode="UPGRADE")], "domainRules": [rule()]}, "duplicate name"),
    ],
)
def test_rules_confluent_refuses_are_42210(rule_set: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRuleSet, match=message) as refused:
        check_rule_set(rule_set)
    assert refused.value.status == 422 and refused.value.error_code == 42210


@pytest.mark.parametrize(
    "metadata",
    [
        [],
        "PII",
        {"tags": []},
        {"tags": {"a.b": "PII"}},
        {"tags": {"a.b": [1]}},
        {"properties": {"k": 1}},
        {"properties": ["k"]},
        {"sensitive": "k"},
        {"tags": {f"p{i}": ["T"] for i in range(MAX_ENTRIES + 1)}},
        {"properties": {"k": "v" * 5000}},
        {"tags": {"**a" * 17: ["PII"]}},  # more than MAX_WILDCARDS
        {"properties": {f"k{i}": "v" * 4000 for i in range(20)}},  # past MAX_BYTES in all
    ],
)
def test_metadata_of_the_wrong_shape_or_size_is_400(metadata: Any) -> None:
    with pytest.raises(MalformedDataContract) as refused:
        check_metadata(metadata)
    assert refused.value.status == 400 and refused.value.error_code == 400


@pytest.mark.parametrize(
    "rule_set",
    [
        [],
        {"domainRules": {}},
        {"domainRules": ["rule"]},
        {"domainRules": [rule(kind="MAYBE")]},
        {"domainRules": [rule(mode=3)]},
        {"domainRules": [rule(disabled="no")]},
        {"domainRules": [rule(params={"a": 1})]},
        {"domainRules": [rule(expr="x" * (MAX_BYTES + 1))]},
        {"enableAt": "MOON"},
        {"domainRules": [rule(name=f"r{i}") for i in range(MAX_ENTRIES + 1)]},
    ],
)
def test_rule_sets_of_the_wrong_shape_or_size_are_400(rule_set: Any) -> None:
    with pytest.raises(MalformedDataContract):
        check_rule_set(rule_set)
