"""A dataset's catalogue metadata in the spirit of DCAT-AP: what an agency sends, what readers get.

``DatasetIn`` is the body of ``POST /v1/datasets``, ``DatasetPatch`` of ``PATCH
/v1/datasets/{dataset}`` (metadata only: a dataset's name, partitions, retention and contract
are changed by other means), ``ContractIn`` of ``PUT /v1/datasets/{dataset}/contract``.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.core import bounded_json
from services.core.bounded_json import MAX_DEPTH_CAP
from services.core.db.models import Agency, Dataset
from services.core.kafka.topics import check_agency, check_dataset, dataset_topic
from services.gateway.catalog.retention import DEFAULT, format_retention, parse_retention

AccessRights = Literal["PUBLIC", "RESTRICTED", "NON_PUBLIC"]
Compatibility = Literal[
    "NONE",
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
]
_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class ContactPoint(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    email: str = Field(max_length=254, pattern=_EMAIL)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ContractIn(_Strict):
    """An Avro contract: a record schema, as a JSON object or as its JSON text."""

    contract: dict[str, Any] | str = Field(alias="schema")

    @field_validator("contract")
    @classmethod
    def _record(cls, value: dict[str, Any] | str) -> dict[str, Any] | str:
        schema_text(value)
        return value

    @property
    def text(self) -> str:
        return schema_text(self.contract)


class DatasetIn(ContractIn):
    agency: str | None = Field(default=None, description="Only an admin names another agency.")
    name: str
    title: str = Field(min_length=1, max_length=300)
    description: str = Field(default="", max_length=20_000)
    theme: str | None = Field(default=None, min_length=1, max_length=64)
    keywords: list[str] = Field(default_factory=list, max_length=32)
    access_rights: AccessRights
    licence: str | None = Field(default=None, min_length=1, max_length=200)
    contact_point: ContactPoint
    update_frequency: str | None = Field(default=None, min_length=1, max_length=32)
    retention: int | str = Field(
        default=DEFAULT, validate_default=True, description="Milliseconds or ISO 8601 (P30D)."
    )
    partitions: int = Field(default=3, ge=1, le=64)
    compatibility: Compatibility = "BACKWARD_TRANSITIVE"

    @field_validator("agency")
    @classmethod
    def _agency(cls, value: str | None) -> str | None:
        return None if value is None else check_agency(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_dataset(value)

    @field_validator("keywords")
    @classmethod
    def _keywords(cls, value: list[str]) -> list[str]:
        return _clean_keywords(value)

    @field_validator("retention")
    @classmethod
    def _retention(cls, value: int | str) -> int:
        return parse_retention(value)

    @property
    def retention_ms(self) -> int:
        assert isinstance(self.retention, int)  # noqa: S101 - the validator made it one
        return self.retention


class DatasetPatch(_Strict):
    """Catalogue metadata to change; fields left out stay as they are."""

    title: str | None = Field(default=None, min_length=1, max_length=300)
    description: str | None = Field(default=None, max_length=20_000)
    theme: str | None = Field(default=None, min_length=1, max_length=64)
    keywords: list[str] | None = Field(default=None, max_length=32)
    access_rights: AccessRights | None = None
    licence: str | None = Field(default=None, min_length=1, max_length=200)
    contact_point: ContactPoint | None = None
    update_frequency: str | None = Field(default=None, min_length=1, max_length=32)

    @field_validator("keywords")
    @classmethod
    def _keywords(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _clean_keywords(value)

    @model_validator(mode="after")
    def _required_stay_set(self) -> DatasetPatch:
        required = {"title", "description", "keywords", "access_rights", "contact_point"}
        cleared = sorted(f for f in required & self.model_fields_set if getattr(self, f) is None)
        if cleared:
            raise ValueError(f"{', '.join(cleared)} cannot be null")
        return self

    def changes(self) -> dict[str, Any]:
        """The columns to set: only the fields the caller sent."""
        return self.model_dump(include=self.model_fields_set)


def _clean_keywords(value: list[str]) -> list[str]:
    cleaned = []
    for keyword in value:
        word = keyword.strip()
        if not 1 <= len(word) <= 64:  # noqa: PLR2004
            raise ValueError("keywords are 1 to 64 characters")
        if word not in cleaned:
            cleaned.append(word)
    return cleaned


def schema_text(value: dict[str, Any] | str) -> str:
    """The contract as JSON text; ``ValueError`` unless it is an Avro record schema."""
    if isinstance(value, str):
        try:  # the registry holds it to its own depth limit; this only must not fail first
            parsed = bounded_json.loads(value, max_depth=MAX_DEPTH_CAP, what="the schema")
        except bounded_json.InvalidJson as exc:
            raise ValueError(exc.message) from None
        text = value
    else:
        parsed, text = value, json.dumps(value, ensure_ascii=False)
    if not isinstance(parsed, dict) or parsed.get("type") != "record":
        raise ValueError('a dataset contract is an Avro record schema ({"type": "record", ...})')
    return text


# --- documents ---------------------------------------------------------------------------------


def topic_of(dataset: Dataset) -> str:
    return dataset_topic(dataset.agency_id, dataset.name, dataset.major_version)


def subject_of(dataset: Dataset) -> str:
    """The contract's subject (TopicNameStrategy): ``<topic>-value``."""
    return f"{topic_of(dataset)}-value"


def dataset_document(dataset: Dataset, publisher: Agency) -> dict[str, Any]:
    """A dataset as the API shows it."""
    return {
        "id": dataset.id,
        "agency": dataset.agency_id,
        "name": dataset.name,
        "title": dataset.title,
        "description": dataset.description,
        "theme": dataset.theme,
        "keywords": list(dataset.keywords),
        "access_rights": dataset.access_rights,
        "licence": dataset.licence,
        "contact_point": dict(dataset.contact_point),
        "update_frequency": dataset.update_frequency,
        "retention_ms": dataset.retention_ms,
        "retention": format_retention(dataset.retention_ms),
        "partitions": dataset.partitions,
        "compatibility": dataset.compatibility,
        "major_version": dataset.major_version,
        "topic": topic_of(dataset),
        "subject": subject_of(dataset),
        "publisher": {"id": publisher.id, "name": publisher.name, "kind": publisher.kind},
        "created_at": dataset.created_at.isoformat(),
        "updated_at": dataset.updated_at.isoformat(),
    }
