"""The agreements workflow: a consumer agency requests access to a dataset, its provider approves
(possibly narrowing fields or term) or rejects, either side revokes; time expires it.

States and moves (anything else is 409 ``invalid_transition``)::

    requested ──approve──► active ──revoke──► revoked
        │ reject              │ time (valid_until)
        ▼                     ▼
    rejected               expired ◄── time ── requested (never decided)

Who: requesting needs ``subscribe`` or ``agreements:manage`` in the consumer agency; approving
and rejecting, ``agreements:manage`` in the provider agency; revoking, the provider's
``agreements:manage`` or the consumer's ``subscribe``/``agreements:manage`` (withdrawing). An
agreement is visible to its two agencies and to admins; to anyone else it does not exist (404).
A NON_PUBLIC dataset is requested by its exact id (learnt from its provider): the catalogue
does not list it to the consumer until the agreement is active, and hides it again once that
ends. Accepting the request reveals nothing new: its contract's subject, hence its id, is
readable in the registry by any principal. An unknown id is 404 ``dataset_not_found``.

**The derived reader schema.** On approval the gateway derives the reader schema of the granted
fields from the latest contract and registers it under :func:`reader_subject` (compatibility
``NONE``: a grant is not an evolution of another) with the *approver's* token, as every registry
write of the gateway is made: the approver's client also needs ``registry:write`` when the
registry requires tokens (checked before anything is written). ``reader_subject`` and
``reader_schema_id`` on the agreement name it; delivery re-encodes records with that id.

**Concurrency and audit.** Every move is one conditional ``UPDATE ... WHERE state = <from>`` (of
two racing decisions exactly one wins; the other gets 409), committed, then audited. If the audit
trail cannot take the record the move is undone (conditionally again) and the caller gets the
503: no change is left unaudited. ``ndxp_agreements{state}`` is recounted after every change.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, or_, select

from services.core.audit import AuditLog
from services.core.auth.principal import (
    ADMIN,
    AGREEMENTS_MANAGE,
    REGISTRY_WRITE,
    SUBSCRIBE,
    Principal,
)
from services.core.avro.contract_cache import UnusableContract, referenced_schemas
from services.core.avro.names import named_types
from services.core.avro.pii import with_metadata_tags
from services.core.avro.projection import derive_reader_schema, granted_fields_default
from services.core.avro.references import ReferenceProblem
from services.core.avro.registry_client import RegistryNotFound
from services.core.db.models import Agreement, Dataset
from services.core.errors import Conflict
from services.core.sharing.agreements import state_clause
from services.gateway.agreements.audit import agreement_event, record
from services.gateway.agreements.expiry import sweep_quietly
from services.gateway.agreements.moves import (
    Change,
    check_move,
    move,
    provider_check,
    revoker_check,
    visible_agreement,
)
from services.gateway.agreements.terms import (
    AgreementIn,
    AgreementQuery,
    Approval,
    Decision,
    InvalidTransition,
    NoFields,
    SelfAgreement,
    agreement_document,
    check_term,
    narrowed,
    reader_subject,
    shortened,
)
from services.gateway.backends import Backends
from services.gateway.catalog.entries import DatasetNotFound, load_dataset
from services.gateway.catalog.metadata import subject_of

__all__ = [
    "approve",
    "get_agreement",
    "list_agreements",
    "reject",
    "request_agreement",
    "revoke",
]

log = logging.getLogger(__name__)


class ContractMissing(Conflict):
    code = "contract_missing"


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


# --- requesting ----------------------------------------------------------------------------------


async def request_agreement(
    backends: Backends,
    audit: AuditLog,
    principal: Principal,
    body: AgreementIn,
    auth: str | None,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Record the consumer's request (state ``requested``); its document."""
    now = _now(now)
    principal.require_any(SUBSCRIBE, AGREEMENTS_MANAGE)
    async with backends.sessions() as session:  # NON_PUBLIC ones too: see the module doc
        found = await load_dataset(session, body.dataset)
    if found is None:
        raise DatasetNotFound(f"dataset {body.dataset!r} not found")
    dataset = found[0]
    if dataset.agency_id == principal.agency:
        raise SelfAgreement(f"agency {principal.agency!r} provides {dataset.id} itself")
    valid_until = check_term(body.valid_until, now)
    writer, named = await writer_schema(backends, dataset, auth)
    fields = body.requested_fields
    if fields is None:
        fields = granted_fields_default(writer, named=named)
        if not fields:
            raise NoFields(f"every field of {dataset.id} is personal data: name the ones wanted")
    derive_reader_schema(writer, fields, named=named)  # unknown fields: 422 listing them
    agreement = Agreement(
        id=str(uuid.uuid4()),
        dataset_id=dataset.id,
        provider_agency=dataset.agency_id,
        consumer_agency=principal.agency,
        purpose=body.purpose,
        legal_basis=body.legal_basis,
        requested_fields=fields,
        state="requested",
        valid_until=valid_until,
        requested_by=principal.client_id,
        created_at=now,
    )
    async with backends.sessions.begin() as session:
        session.add(agreement)

    async def undo() -> None:
        async with backends.sessions.begin() as session:
            await session.execute(
                delete(Agreement).where(
                    Agreement.id == agreement.id, Agreement.state == "requested"
                )
            )

    details = {
        "purpose": body.purpose,
        "legal_basis": body.legal_basis,
        "requested_fields": fields,
        "valid_until": valid_until.isoformat(),
    }
    await record(
        backends, audit, agreement_event("agreement.request", principal, agreement, details), undo
    )
    log.info("agreement %s requested: %s for %s", agreement.id, dataset.id, principal.agency)
    return agreement_document(agreement, now)


async def writer_schema(
    backends: Backends, dataset: Dataset, auth: str | None
) -> tuple[Any, dict[str, Any]]:
    """The latest contract's JSON and the named types it takes from its references."""
    try:
        latest = await backends.registry.version(subject_of(dataset), "latest", auth)
    except RegistryNotFound as exc:
        raise ContractMissing(f"the registry has no contract for {dataset.id}") from exc
    named: dict[str, Any] = {}
    try:
        for raw in await referenced_schemas(backends.registry, latest, auth):
            named.update(named_types(raw))
    except ReferenceProblem as exc:
        raise UnusableContract(f"the contract of {dataset.id}: {exc}") from exc
    # PII tags Confluent's tooling put in the schema's metadata count as the fields' own
    return with_metadata_tags(json.loads(latest["schema"]), named, latest.get("metadata"))


# --- deciding ------------------------------------------------------------------------------------


async def approve(
    backends: Backends,
    audit: AuditLog,
    principal: Principal,
    agreement_id: str,
    body: Approval,
    *,
    auth: str | None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Activate a requested agreement: grant (a subset of) its fields until (at most) its end
    date, and register the derived reader schema."""
    now = _now(now)
    check = provider_check(principal)
    async with backends.sessions() as session:
        agreement = await visible_agreement(session, principal, agreement_id)
        check(agreement)
        dataset = await session.get(Dataset, agreement.dataset_id)
    if backends.registry_requires_tokens:  # the reader schema is registered with the caller's token
        principal.require_any(REGISTRY_WRITE)
    check_move(agreement, "active", now)
    granted = narrowed(agreement.requested_fields or [], body.fields)
    valid_until = shortened(agreement.valid_until, body.valid_until, now)
    if dataset is None:  # removed by hand; the foreign key makes this all but impossible
        raise DatasetNotFound(f"dataset {agreement.dataset_id!r} not found")
    writer, named = await writer_schema(backends, dataset, auth)
    reader = derive_reader_schema(writer, granted, named=named)
    subject = reader_subject(agreement.id)
    await backends.registry.set_compatibility(subject, "NONE", auth)
    registered = await backends.registry.register(
        subject, json.dumps(reader, ensure_ascii=False), auth
    )
    values = {
        "granted_fields": granted,
        "valid_until": valid_until,
        "reader_subject": subject,
        "reader_schema_id": int(registered["id"]),
        "decided_by": principal.client_id,
        "decided_at": now,
    }
    try:
        change = await move(
            backends.sessions,
            agreement_id,
            "active",
            values=values,
            now=now,
            check=check,
            marker="decided_at",
        )
    except InvalidTransition:  # decided meanwhile by another request: its schema stays
        await _discard(backends, subject, registered, agreement_id, auth)
        raise
    details = {
        "granted_fields": granted,
        "valid_until": valid_until.isoformat(),
        "reader_subject": subject,
        "reader_schema_id": int(registered["id"]),
    }
    event = agreement_event("agreement.approve", principal, change.after, details)
    await record(backends, audit, event, change.undo)
    log.info("agreement %s approved by %s", agreement_id, principal.client_id)
    return agreement_document(change.after, now)


async def _discard(
    backends: Backends,
    subject: str,
    registered: dict[str, Any],
    agreement_id: str,
    auth: str | None,
) -> None:
    """Delete the reader schema version this request registered, unless the agreement uses it."""
    async with backends.sessions() as session:
        current = await session.get(Agreement, agreement_id)
    if current is not None and current.reader_schema_id == int(registered["id"]):
        return
    try:
        await backends.registry.delete_version(subject, int(registered["version"]), auth)
    except RegistryNotFound:
        pass  # another losing approval of the same grant deleted it first
    except Exception:
        log.exception("could not delete %s %s: unused, delete it by hand", subject, registered)


async def reject(
    backends: Backends,
    audit: AuditLog,
    principal: Principal,
    agreement_id: str,
    body: Decision,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Refuse a requested agreement, saying why."""
    now = _now(now)
    values = {"decided_by": principal.client_id, "decided_at": now, "reason": body.reason}
    change = await _decide(backends, principal, agreement_id, "rejected", values, now=now)
    event = agreement_event("agreement.reject", principal, change.after, {"reason": body.reason})
    await record(backends, audit, event, change.undo)
    return agreement_document(change.after, now)


async def revoke(
    backends: Backends,
    audit: AuditLog,
    principal: Principal,
    agreement_id: str,
    body: Decision,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """End an active agreement now: by its provider, or by its consumer withdrawing."""
    now = _now(now)
    values = {"revoked_at": now, "reason": body.reason}
    change = await _decide(backends, principal, agreement_id, "revoked", values, now=now)
    by = "provider" if principal.agency == change.after.provider_agency else "consumer"
    details = {"reason": body.reason, "by": by}
    await record(
        backends,
        audit,
        agreement_event("agreement.revoke", principal, change.after, details),
        change.undo,
    )
    log.info("agreement %s revoked by the %s (%s)", agreement_id, by, principal.client_id)
    return agreement_document(change.after, now)


async def _decide(
    backends: Backends,
    principal: Principal,
    agreement_id: str,
    target: str,
    values: dict[str, Any],
    *,
    now: datetime,
) -> Change:
    """Reject or revoke: who may, and the column that dates the move, follow from ``target``."""
    if target == "revoked":
        check, marker = revoker_check(principal), "revoked_at"
    else:
        check, marker = provider_check(principal), "decided_at"
    async with backends.sessions() as session:
        check(await visible_agreement(session, principal, agreement_id))
    return await move(
        backends.sessions, agreement_id, target, values=values, now=now, check=check, marker=marker
    )


# --- reading -------------------------------------------------------------------------------------


def _require_reader(principal: Principal) -> None:
    principal.require_any(SUBSCRIBE, AGREEMENTS_MANAGE, ADMIN)


async def get_agreement(
    backends: Backends,
    audit: AuditLog,
    principal: Principal,
    agreement_id: str,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    now = _now(now)
    _require_reader(principal)
    await sweep_quietly(backends, audit, now)
    async with backends.sessions() as session:
        agreement = await visible_agreement(session, principal, agreement_id)
    return agreement_document(agreement, now)


async def list_agreements(
    backends: Backends,
    audit: AuditLog,
    principal: Principal,
    query: AgreementQuery,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """One page of the agreements the caller is a party to (every one, for an admin)."""
    now = _now(now)
    _require_reader(principal)
    await sweep_quietly(backends, audit, now)
    statement = select(Agreement)
    if query.role == "consumer":
        statement = statement.where(Agreement.consumer_agency == principal.agency)
    elif query.role == "provider":
        statement = statement.where(Agreement.provider_agency == principal.agency)
    elif not principal.is_admin:
        statement = statement.where(
            or_(
                Agreement.consumer_agency == principal.agency,
                Agreement.provider_agency == principal.agency,
            )
        )
    if query.state:
        statement = statement.where(state_clause(query.state, now))
    if query.dataset:
        statement = statement.where(Agreement.dataset_id == query.dataset)
    async with backends.sessions() as session:
        total = await session.scalar(select(func.count()).select_from(statement.subquery()))
        rows = await session.scalars(
            statement.order_by(Agreement.created_at.desc(), Agreement.id)
            .offset((query.page - 1) * query.page_size)
            .limit(query.page_size)
        )
        items = [agreement_document(a, now) for a in rows]
    return {"items": items, "total": total or 0, "page": query.page, "page_size": query.page_size}
