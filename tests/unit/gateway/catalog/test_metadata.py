"""What a dataset body must look like before anything is written anywhere."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from services.gateway.catalog.metadata import DatasetIn, DatasetPatch, schema_text

RECORD = {"type": "record", "name": "Change", "fields": [{"name": "id", "type": "string"}]}


def body(**overrides: Any) -> dict[str, Any]:
    found: dict[str, Any] = {
        "name": "residence-changes",
        "title": "Residence changes",
        "access_rights": "PUBLIC",
        "contact_point": {"name": "Data desk", "email": "data@mps.gov.vn"},
        "schema": RECORD,
    }
    return found | overrides


def error_locs(exc: pytest.ExceptionInfo[ValidationError]) -> set[str]:
    return {".".join(str(p) for p in e["loc"]) for e in exc.value.errors()}


def test_defaults() -> None:
    data = DatasetIn.model_validate(body())
    assert data.retention_ms == 7 * 86_400_000
    assert data.partitions == 3
    assert data.compatibility == "BACKWARD_TRANSITIVE"
    assert data.agency is None
    assert json.loads(data.text) == RECORD


def test_schema_as_text_is_kept_as_given() -> None:
    text = json.dumps(RECORD, indent=2)
    assert DatasetIn.model_validate(body(schema=text)).text == text


def test_keywords_trimmed_and_deduplicated() -> None:
    data = DatasetIn.model_validate(body(keywords=[" cư trú ", "cư trú", "residence"]))
    assert data.keywords == ["cư trú", "residence"]


@pytest.mark.parametrize(
    ("overrides", "loc"),
    [
        ({"name": "Residence"}, "name"),
        ({"name": "x"}, "name"),
        ({"agency": "ndxp"}, "agency"),
        ({"title": ""}, "title"),
        ({"access_rights": "SECRET"}, "access_rights"),
        ({"contact_point": {"name": "x", "email": "not-an-email"}}, "contact_point.email"),
        ({"retention": "P1M"}, "retention"),
        ({"partitions": 0}, "partitions"),
        ({"partitions": 65}, "partitions"),
        ({"compatibility": "SIDEWAYS"}, "compatibility"),
        ({"schema": "{not json"}, "schema"),
        ({"schema": {"type": "string"}}, "schema"),
        ({"schema": '"string"'}, "schema"),
        ({"keywords": [""]}, "keywords"),
        ({"partition_count": 3}, "partition_count"),
    ],
)
def test_refuses(overrides: dict[str, Any], loc: str) -> None:
    with pytest.raises(ValidationError) as exc:
        DatasetIn.model_validate(body(**overrides))
    assert loc in error_locs(exc)


def test_schema_is_required() -> None:
    data = body()
    del data["schema"]
    with pytest.raises(ValidationError) as exc:
        DatasetIn.model_validate(data)
    assert "schema" in error_locs(exc)


def test_patch_changes_only_what_was_sent() -> None:
    patch = DatasetPatch.model_validate({"title": "New", "theme": None})
    assert patch.changes() == {"title": "New", "theme": None}


@pytest.mark.parametrize(
    "sent",
    [{"title": None}, {"access_rights": None}, {"name": "other"}, {"partitions": 6}],
)
def test_patch_refuses(sent: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        DatasetPatch.model_validate(sent)


def test_schema_text_of_an_object_keeps_unicode() -> None:
    record = RECORD | {"doc": "Thay đổi cư trú"}
    assert "Thay đổi cư trú" in schema_text(record)
