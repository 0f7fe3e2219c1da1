"""The registry's errors, with Confluent Schema Registry's numeric codes and body format.

Confluent clients read ``{"error_code": N, "message": "..."}`` and branch on ``error_code``, so
these codes are part of the API: 40401 subject not found, 42201 invalid schema, and so on.
"""

from __future__ import annotations

from typing import Final

from services.core.errors import (
    BadRequest,
    Conflict,
    NdxpError,
    NotFound,
    Unavailable,
    Unprocessable,
    UnsupportedMediaType,
)
from services.core.http.errors import SCHEMA_REGISTRY_MEDIA_TYPE as MEDIA_TYPE
from services.core.http.errors import confluent_json


class SubjectNotFound(NotFound):
    code, error_code = "subject_not_found", 40401


class VersionNotFound(NotFound):
    code, error_code = "version_not_found", 40402


class SchemaNotFound(NotFound):
    code, error_code = "schema_not_found", 40403


class SubjectSoftDeleted(NotFound):
    code, error_code = "subject_soft_deleted", 40404


class SubjectNotSoftDeleted(NotFound):
    code, error_code = "subject_not_soft_deleted", 40405


class VersionSoftDeleted(NotFound):
    code, error_code = "version_soft_deleted", 40406


class VersionNotSoftDeleted(NotFound):
    code, error_code = "version_not_soft_deleted", 40407


class SubjectConfigNotFound(NotFound):
    code, error_code = "subject_config_not_found", 40408


class SubjectModeNotFound(NotFound):
    code, error_code = "subject_mode_not_found", 40409


class IncompatibleSchema(Conflict):
    code, error_code = "incompatible_schema", 409


class InvalidSchema(Unprocessable):
    code, error_code = "invalid_schema", 42201


class InvalidVersion(Unprocessable):
    code, error_code = "invalid_version", 42202


class InvalidCompatibilityLevel(Unprocessable):
    code, error_code = "invalid_compatibility_level", 42203


class InvalidMode(Unprocessable):
    code, error_code = "invalid_mode", 42204


class OperationNotPermitted(Unprocessable):
    code, error_code = "operation_not_permitted", 42205


class ReferenceExists(Unprocessable):
    code, error_code = "reference_exists", 42206


class SchemaTooLarge(Unprocessable):
    code, error_code = "schema_too_large", 42209


class InvalidRuleSet(Unprocessable):
    code, error_code = "invalid_rule_set", 42210


class MalformedDataContract(BadRequest):
    """A ``metadata`` or ``ruleSet`` of the wrong shape: Confluent answers 400 to a body its
    entities cannot map."""

    code, error_code = "malformed_data_contract", 400


def invalid_version(version: str) -> InvalidVersion:
    """Confluent's 42202, word for word."""
    return InvalidVersion(
        f"The specified version '{version}' is not a valid version id. "
        'Allowed values are between [1, 2^31-1] and the string "latest"'
    )


def invalid_avro(details: str) -> InvalidSchema:
    """Confluent's 42201 for a schema that does not parse, word for word up to ``details``
    (clients match on the ``Invalid schema of type AVRO`` part)."""
    return InvalidSchema(f"Invalid schema of type AVRO, details: {details}")


class StoreError(Unavailable):
    code, error_code = "store_error", 50001


class StoreTimeout(Unavailable):
    code, error_code = "store_timeout", 50002


# What the routes answer beyond authentication and validation, as they declare it for the OpenAPI
# document (``responses=raises(*REGISTER)``): a JSON body that is no schema request, a subject or
# version not there, a write the mode or the store refuses.
JSON_BODY: Final = (UnsupportedMediaType, BadRequest, SchemaTooLarge)
SCHEMA_BODY: Final = (*JSON_BODY, InvalidSchema, MalformedDataContract, InvalidRuleSet)
VERSION: Final = (SubjectNotFound, VersionNotFound, InvalidVersion)
WRITE: Final = (OperationNotPermitted, StoreError)
LOOKUP: Final = (*SCHEMA_BODY, SubjectNotFound, SchemaNotFound)
REGISTER: Final = (*SCHEMA_BODY, InvalidVersion, IncompatibleSchema, *WRITE)
COMPATIBILITY: Final = (*SCHEMA_BODY, *VERSION)
DELETE_SUBJECT: Final = (
    SubjectNotFound,
    SubjectNotSoftDeleted,
    SubjectSoftDeleted,
    ReferenceExists,
    *WRITE,
)
DELETE_VERSION: Final = (
    *VERSION,
    VersionNotSoftDeleted,
    VersionSoftDeleted,
    ReferenceExists,
    *WRITE,
)
SET_CONFIG: Final = (*JSON_BODY, InvalidCompatibilityLevel, StoreError)
SET_MODE: Final = (*JSON_BODY, InvalidMode, *WRITE)

__all__ = ["MEDIA_TYPE", "NdxpError", "confluent_json"]
