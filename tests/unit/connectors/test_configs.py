"""Connector configs: worker keys, secrets by reference and masked, YAML definitions, slots."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.connectors.commands import CommandFailed, definitions
from services.connectors.configs import ConfigInvalid, config_errors, parse_config
from services.connectors.group import SLOTS, slot_of
from services.connectors.secrets import MASK, UnresolvedReference, masked_config, resolve

SQL = {
    "connector.class": "sql-source",
    "dataset": "moh.people",
    "url": "sqlite+aiosqlite:///x.db",
    "table": "people",
    "incrementing_column": "id",
}


def test_a_reference_is_resolved_from_the_workers_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ETL_PW", "s3cr3t")
    config = {"url": "postgresql://etl:${env:ETL_PW}@db/hr", "auth": {"password": "${env:ETL_PW}"}}
    assert resolve(config) == {
        "url": "postgresql://etl:s3cr3t@db/hr",
        "auth": {"password": "s3cr3t"},
    }
    monkeypatch.delenv("ETL_PW")
    with pytest.raises(UnresolvedReference, match="ETL_PW is not set"):
        resolve(config)


def test_secrets_are_masked_at_any_depth_and_in_urls_but_references_are_shown() -> None:
    shown = masked_config(
        {
            "url": "postgresql://etl:s3cr3t@db:5432/hr",
            "plain_url": "https://api.example.vn/people",
            "secret": "hmac-key",
            "token_url": "https://id.example.vn/token",
            "auth": {"type": "oauth2", "client_id": "c1", "client_secret": "x"},
            "transforms": [{"type": "hash", "fields": ["citizen_id"], "key": "k" * 20}],
            "key_column": "id",
            "password": "${env:DB_PW}",
        }
    )
    assert shown["url"] == f"postgresql://etl:{MASK}@db:5432/hr"
    assert shown["plain_url"] == "https://api.example.vn/people"
    assert shown["secret"] == MASK
    assert shown["token_url"] == "https://id.example.vn/token"
    assert shown["auth"] == {"type": "oauth2", "client_id": "c1", "client_secret": MASK}
    assert shown["transforms"][0]["key"] == MASK
    assert shown["key_column"] == "id"
    assert shown["password"] == "${env:DB_PW}"


def test_worker_keys_are_checked_with_the_plugins_own() -> None:
    assert config_errors(SQL) == []
    config = parse_config({**SQL, "transforms": [{"type": "drop", "fields": ["age"]}]})
    assert config.transforms.apply({"id": 1, "age": 3}, None) == ({"id": 1}, None)
    errors = config_errors({**SQL, "transforms": [{"type": "nope"}], "agreement": "a1"})
    names = {error["name"] for error in errors}
    assert names == {"transforms", "agreement"}  # agreements are for sinks only
    with pytest.raises(ConfigInvalid):
        parse_config({**SQL, "dataset": "not-a-dataset"})


def test_an_unset_reference_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NDXP_TEST_UNSET", raising=False)
    errors = config_errors({**SQL, "url": "postgresql://etl:${env:NDXP_TEST_UNSET}@db/hr"})
    assert any("NDXP_TEST_UNSET is not set" in error["message"] for error in errors)


def test_yaml_files_define_one_or_many_connectors(tmp_path: Path) -> None:
    one = tmp_path / "one.yaml"
    one.write_text("name: hr-people\nconfig:\n  connector.class: sql-source\n  table: people\n")
    many = tmp_path / "many.yaml"
    many.write_text(
        "connectors:\n"
        "  - name: a\n    config: {connector.class: file-source}\n"
        "  - name: b\n    config: {connector.class: rest-source}\n"
        "---\n"
        "name: c\nconfig: {connector.class: soap-source}\n"
    )
    assert list(definitions(one)) == [
        ("hr-people", {"connector.class": "sql-source", "table": "people"})
    ]
    assert [name for name, _ in definitions(many)] == ["a", "b", "c"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("connectors:\n  - config: {}\n")
    with pytest.raises(CommandFailed, match="needs a 'name' and a 'config'"):
        list(definitions(bad))
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    with pytest.raises(CommandFailed, match="not YAML"):
        list(definitions(broken))


def test_every_worker_puts_a_connector_in_the_same_slot() -> None:
    names = [f"connector-{i}" for i in range(500)]
    slots = [slot_of(name) for name in names]
    assert slots == [slot_of(name) for name in names]
    assert all(0 <= slot < SLOTS for slot in slots)
    assert len(set(slots)) == SLOTS  # 500 names spread over every slot
