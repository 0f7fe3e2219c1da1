"""``/ndxp/contracts/{subject}``: a contract as the gateway and the catalogue need it (an ndxp
extension): the latest version's fields with their docs and PII classes, the compatibility level
and the lint result."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Response

from services.core.avro.pii import field_catalogue, pii_fields, with_metadata_tags
from services.core.http.json_body import JsonRoute
from services.core.http.openapi import raises
from services.registry import errors
from services.registry.deps import RegistryDep, Subject, reply
from services.registry.lint import lint_contract
from services.registry.registry import subject_namespace

router = APIRouter(prefix="/ndxp", tags=["ndxp"], route_class=JsonRoute)


@router.get(
    "/contracts/{subject:segment}", responses=raises(errors.SubjectNotFound, errors.VersionNotFound)
)
async def get_contract(subject: Subject, registry: RegistryDep) -> Response:
    latest = await registry.version(subject, "latest", deleted=False)
    parsed = await registry.parsed_by_id(latest["id"])
    config = await registry.config(subject, default_to_global=True)
    namespace = subject_namespace(subject)
    raw = parsed.raw
    # fields Confluent's tooling tagged PII in the schema's metadata count as tagged inline
    tagged, named = with_metadata_tags(raw, parsed.named, latest.get("metadata"))
    body: dict[str, Any] = {
        "subject": subject,
        "version": latest["version"],
        "id": latest["id"],
        "name": raw.get("name") if isinstance(raw, dict) else None,
        "namespace": raw.get("namespace") if isinstance(raw, dict) else None,
        "doc": raw.get("doc") if isinstance(raw, dict) else None,
        "compatibility": config["compatibilityLevel"],
        "fields": field_catalogue(tagged, named),
        "pii": pii_fields(tagged, named),
        "lint": {
            "level": config["lint"],
            "findings": [
                asdict(f) for f in lint_contract(raw, namespace=namespace, named=parsed.named)
            ],
        },
        "schema": latest["schema"],
    }
    return reply(body)
