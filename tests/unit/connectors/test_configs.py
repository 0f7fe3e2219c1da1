"""Connector configs: shared keys and their defaults, the plugin schema and the validate answer,
secrets by reference and masked, YAML definitions, slots."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.connectors.commands import CommandFailed, definitions
from services.connectors.config_info import config_infos
from services.connectors.configs import ConfigInvalid, config_errors, config_schema, parse_config
from services.connectors.group import SLOTS, slot_of
from services.connectors.plugin import plugins
from services.connectors.secrets import (
    MASK,
    UnresolvedReference,
    masked_config,
    masked_text,
    resolve,
)

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


def test_credential_headers_query_secrets_and_userinfo_are_masked() -> None:
    shown = masked_config(
        {
            "headers": {
                "Authorization": "Bearer abc",
                "proxy-authorization": "Basic eHl6",
                "X-Api-Key": "k-123",
                "Cookie": "session=1",
                "X-Auth-Token": "t",
                "Accept": "application/json",
            },
            "url": "https://api.example.vn/p?client_secret=s1&page=2&access_token=t2&sig=x&q=a",
            "feed": "https://ghp_abc123@git.example.vn/feed.xml",
            "mirror": "https://${env:FEED_TOKEN}@git.example.vn/feed.xml",
            "db": "postgresql://etl@db/hr",
            "ref": "https://api.example.vn/p?token=${env:T}",
        }
    )
    assert shown["headers"] == {
        "Authorization": MASK,
        "proxy-authorization": MASK,
        "X-Api-Key": MASK,
        "Cookie": MASK,
        "X-Auth-Token": MASK,
        "Accept": "application/json",
    }
    assert shown["url"] == (
        f"https://api.example.vn/p?client_secret={MASK}&page=2&access_token={MASK}&sig={MASK}&q=a"
    )
    assert shown["feed"] == f"https://{MASK}@git.example.vn/feed.xml"
    assert shown["mirror"] == "https://${env:FEED_TOKEN}@git.example.vn/feed.xml"
    assert shown["db"] == "postgresql://etl@db/hr"  # a database's user name is no secret
    assert shown["ref"] == "https://api.example.vn/p?token=${env:T}"


def test_urls_in_a_trace_are_masked() -> None:
    trace = (
        "Traceback (most recent call last):\n  ...\nOperationalError: could not connect to "
        "'postgresql://etl:pw1@db:5432/hr' (see https://h.example/x?password=p2&a=1)\n"
    )
    shown = masked_text(trace)
    assert "pw1" not in shown
    assert "p2" not in shown
    assert f"'postgresql://etl:{MASK}@db:5432/hr'" in shown
    assert f"https://h.example/x?password={MASK}&a=1)" in shown


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


SINK = {
    "connector.class": "sql-sink",
    "dataset": "moh.people",
    "url": "sqlite+aiosqlite:///x.db",
    "table": "people",
    "key_fields": ["id"],
}


def test_the_shared_keys_have_their_defaults() -> None:
    source, sink = parse_config(SQL), parse_config(SINK)
    assert source.tolerance == sink.tolerance == "all"  # bad rows to the DLQ unless told
    assert sink.start == "latest"
    assert parse_config({**SQL, "errors.tolerance": "none"}).tolerance == "none"
    moment = parse_config({**SINK, "start": "2025-03-14T09:00:00+07:00"}).start
    assert moment == datetime(2025, 3, 14, 2, tzinfo=UTC)
    assert parse_config({**SINK, "start": "earliest", "agreement": "a1"}).agreement == "a1"


def test_shared_key_errors_name_the_key() -> None:
    errors = config_errors(
        {**SINK, "errors.tolerance": "some", "start": "2025-03-14", "dataset": "moh"}
    )
    assert {e["name"] for e in errors} == {"errors.tolerance", "start", "dataset"}
    assert config_errors({**SQL, "start": "latest"}) == [
        {"name": "start", "message": "a key of sink connectors only"}
    ]


def test_the_plugin_schema_lists_the_shared_keys_then_the_plugins_own() -> None:
    schema = config_schema(plugins()["file-source"])
    keys = list(schema["properties"])
    assert keys[:4] == ["connector.class", "dataset", "errors.tolerance", "transforms"]
    assert {"directory", "date_format", "timestamp_format", "timezone"} <= set(keys)
    assert "start" not in keys and "agreement" not in keys
    assert schema["properties"]["timezone"]["default"] == "Asia/Ho_Chi_Minh"
    assert schema["additionalProperties"] is False


def test_the_validate_answer_has_kafka_connects_shape() -> None:
    answer = config_infos("sql-sink", plugins()["sql-sink"], {**SINK, "auth": 1})
    assert set(answer) == {"name", "error_count", "groups", "configs"}
    assert answer["error_count"] == 1
    for config in answer["configs"]:
        assert set(config["definition"]) == {
            "name",
            "type",
            "required",
            "default_value",
            "importance",
            "documentation",
            "group",
            "order",
            "width",
            "display_name",
            "dependents",
        }
        assert set(config["value"]) == {
            "name",
            "value",
            "recommended_values",
            "errors",
            "visible",
        }
    by_name = {c["value"]["name"]: c["value"] for c in answer["configs"]}
    assert by_name["auth"]["errors"] == ["Extra inputs are not permitted"]
    assert by_name["url"]["value"] == SINK["url"]
