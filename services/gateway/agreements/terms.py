"""What an agreement says and how the API shows it: the request and decision bodies, the rules on
its end date and fields, the registry subject of its reader schema, and its document.

**End dates.** ``valid_until`` is an ISO 8601 date-time with an offset (``2027-06-30T17:00:00Z``,
``...+07:00``), or a date, meaning through the end of that day in UTC. It must lie ahead, at most
:data:`MAX_TERM` ahead. A provider's approval may bring it forward, never push it back.

**Fields.** Dotted paths into the contract (``new_address.province_code``), as
:mod:`services.core.avro.projection` reads a grant. A request without ``requested_fields`` asks for
every top-level field that is not personal data; a request may name personal-data fields, which
the provider then grants or drops. An approval may only drop requested paths, never add one.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from services.core.db.models import Agreement
from services.core.errors import Conflict, NotFound, Unprocessable
from services.core.sharing.agreements import effective_state

MAX_TERM: Final = timedelta(days=5 * 365 + 2)  # five years, leap days included
MAX_FIELDS: Final = 500
READER_SUBJECT_PREFIX: Final = "ndxp.agreements."
_FIELD_PATH: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_DATE_ONLY: Final = re.compile(r"\d{4}-\d{2}-\d{2}")

State = Literal["requested", "active", "rejected", "revoked", "expired"]  # AGREEMENT_STATES


class AgreementNotFound(NotFound):
    code = "agreement_not_found"


class InvalidTransition(Conflict):
    code = "invalid_transition"
    title = "Invalid state transition"


class SelfAgreement(Unprocessable):
    code = "self_agreement"


class InvalidTerm(Unprocessable):
    code = "invalid_valid_until"


class FieldsNotRequested(Unprocessable):
    code = "fields_not_requested"


class NoFields(Unprocessable):
    code = "no_fields"


def reader_subject(agreement_id: str) -> str:
    """The registry subject of an agreement's derived reader schema, ``ndxp.agreements.<id>-value``.

    Under the hub's reserved ``ndxp`` prefix, so no dataset subject (``<agency>.<dataset>.v<N>``)
    can ever take it, and one per agreement, so a grant never evolves under another's rules.
    """
    return f"{READER_SUBJECT_PREFIX}{agreement_id}-value"


# --- bodies --------------------------------------------------------------------------------------


def _end_of_day(value: Any) -> Any:
    """A bare date is the end of that day, UTC: the first instant of the next."""
    if isinstance(value, str) and _DATE_ONLY.fullmatch(value.strip()):
        try:
            day = date.fromisoformat(value.strip())
        except ValueError as exc:
            raise ValueError(f"invalid date {value!r}") from exc
        return datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)
    return value


def _paths(value: list[str] | None) -> list[str] | None:
    """Field paths stripped, checked and without repeats (in the order given)."""
    if value is None:
        return None
    paths: list[str] = []
    for raw in value:
        path = raw.strip()
        if not _FIELD_PATH.fullmatch(path) or len(path) > 1000:  # noqa: PLR2004
            raise ValueError(f"{raw!r} is not a field path (name or dotted names)")
        if path not in paths:
            paths.append(path)
    return paths


EndDate = Annotated[AwareDatetime, BeforeValidator(_end_of_day)]
FieldPaths = Annotated[
    list[str] | None, Field(min_length=1, max_length=MAX_FIELDS), AfterValidator(_paths)
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class AgreementIn(_Strict):
    """``POST /v1/agreements``: a consumer agency asks for access to a dataset."""

    dataset: str = Field(min_length=1, max_length=65)
    purpose: str = Field(min_length=1, max_length=4000)
    legal_basis: str = Field(min_length=1, max_length=2000)
    requested_fields: FieldPaths = None
    valid_until: EndDate


class Approval(_Strict):
    """``POST /v1/agreements/{id}/approve``: the provider may narrow the fields or the term."""

    fields: FieldPaths = None
    valid_until: EndDate | None = None


class Decision(_Strict):
    """``POST /v1/agreements/{id}/reject`` and ``/revoke``: why."""

    reason: str = Field(min_length=1, max_length=4000)


class AgreementQuery(_Strict):
    """``GET /v1/agreements``: the caller's agreements as ``role`` (both when unset; an admin's
    without ``role`` are everyone's), in ``state``, of ``dataset``; newest first."""

    role: Literal["consumer", "provider"] | None = None
    state: State | None = None
    dataset: str | None = Field(default=None, max_length=65)
    page: int = Field(default=1, ge=1, le=100_000)
    page_size: int = Field(default=50, ge=1, le=200)


# --- rules ---------------------------------------------------------------------------------------


def check_term(valid_until: datetime, now: datetime) -> datetime:
    """``valid_until`` in UTC if it lies ahead of ``now`` and at most :data:`MAX_TERM` ahead."""
    if valid_until <= now:
        raise InvalidTerm(f"valid_until {valid_until.isoformat()} is not in the future")
    if valid_until - now > MAX_TERM:
        raise InvalidTerm(f"valid_until may be at most {MAX_TERM.days} days ahead")
    return valid_until.astimezone(UTC)


def shortened(current: datetime, wanted: datetime | None, now: datetime) -> datetime:
    """The approved end date: the requested one, or an earlier one still ahead of ``now``."""
    if wanted is None:
        return current
    if wanted > current:
        raise InvalidTerm(
            f"an approval may only shorten the term: {wanted.isoformat()} is after "
            f"the requested {current.isoformat()}"
        )
    return check_term(wanted, now)


def narrowed(requested: list[str], fields: list[str] | None) -> list[str]:
    """The granted fields: all requested ones, or the given subset of them."""
    if fields is None:
        return list(requested)
    extra = [path for path in fields if path not in requested]
    if extra:
        raise FieldsNotRequested(
            f"an approval may only narrow the request; not requested: {', '.join(extra)}",
            errors=[{"path": path, "reason": "not requested"} for path in extra],
        )
    return list(fields)


# --- documents -----------------------------------------------------------------------------------


def agreement_document(agreement: Agreement, now: datetime) -> dict[str, Any]:
    """An agreement as the API shows it; ``state`` is its state at ``now``."""
    reader = None
    if agreement.reader_subject is not None:
        reader = {"subject": agreement.reader_subject, "id": agreement.reader_schema_id}
    return {
        "id": agreement.id,
        "dataset": agreement.dataset_id,
        "provider": agreement.provider_agency,
        "consumer": agreement.consumer_agency,
        "purpose": agreement.purpose,
        "legal_basis": agreement.legal_basis,
        "requested_fields": agreement.requested_fields,
        "granted_fields": agreement.granted_fields,
        "state": effective_state(agreement, now),
        "valid_until": agreement.valid_until.isoformat(),
        "reader_schema": reader,
        "requested_by": agreement.requested_by,
        "decided_by": agreement.decided_by,
        "reason": agreement.reason,
        "created_at": _iso(agreement.created_at),
        "decided_at": _iso(agreement.decided_at),
        "revoked_at": _iso(agreement.revoked_at),
    }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
