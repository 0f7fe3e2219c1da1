"""Control-plane tables. Every schema change here needs an Alembic migration in ``migrations/``."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, validates
from sqlalchemy.types import TypeDecorator

# Named constraints give Alembic the same, predictable names on SQLite and PostgreSQL, which
# batch mode on SQLite needs to find (and drop) a constraint again.
NAMING_CONVENTION: Final = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

AGENCY_ID = re.compile(r"[a-z][a-z0-9-]{1,31}")
AGENCY_KINDS: Final = ("ministry", "province", "other")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp on every backend, stored in UTC.

    SQLite keeps no offset and hands back naive values; they are UTC (``CURRENT_TIMESTAMP`` is),
    so they are read back as such and code never compares naive with aware datetimes.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None:
            if value.tzinfo is None:
                raise ValueError(f"naive datetime {value!r}: give it a timezone")
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value: Any | None, dialect: Dialect) -> datetime | None:
        if isinstance(value, datetime) and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Agency(Base):
    """A member organisation: a ministry, a province or another public body."""

    __tablename__ = "agencies"
    __table_args__ = (
        CheckConstraint("kind IN (" + ", ".join(f"'{k}'" for k in AGENCY_KINDS) + ")", name="kind"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    # The official electronic identifier code (Decision 20/2020/QĐ-TTg), when it has one.
    code: Mapped[str | None] = mapped_column(String(35), unique=True)
    enabled: Mapped[bool] = mapped_column(default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())

    @validates("id")
    def _check_id(self, _key: str, value: str) -> str:
        if not AGENCY_ID.fullmatch(value):
            raise ValueError(f"agency id {value!r} does not match {AGENCY_ID.pattern}")
        return value


# --- schema registry -------------------------------------------------------------------------


class RegistrySchema(Base):
    """A distinct schema: ids are global, and the same schema has the same id in every subject."""

    __tablename__ = "registry_schemas"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    schema_type: Mapped[str] = mapped_column(String(16), default="AVRO")
    schema: Mapped[str] = mapped_column(Text)
    # sha256 over type, schema text, references, metadata and ruleSet: "the same schema".
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    references: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # Confluent's data contract parts, canonical, None when the client sent none; part of the
    # fingerprint when present (``metadata`` is a reserved attribute name in SQLAlchemy).
    schema_metadata: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON, nullable=True)
    rule_set: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())


class RegistrySubjectVersion(Base):
    """Version ``version`` of ``subject`` is schema ``schema_id``; soft deletion keeps the row."""

    __tablename__ = "registry_subject_versions"
    __table_args__ = (UniqueConstraint("subject", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject: Mapped[str] = mapped_column(String(255), index=True)
    version: Mapped[int] = mapped_column(Integer)
    schema_id: Mapped[int] = mapped_column(ForeignKey("registry_schemas.id"), index=True)
    deleted: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())


class RegistryReference(Base):
    """Schema ``schema_id`` refers to a named type in version ``version`` of ``subject``."""

    __tablename__ = "registry_references"

    schema_id: Mapped[int] = mapped_column(ForeignKey("registry_schemas.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    subject: Mapped[str] = mapped_column(String(255), index=True)
    version: Mapped[int] = mapped_column(Integer)


class RegistrySettings(Base):
    """Compatibility level, mode and lint level, globally (subject ``""``) or for a subject."""

    __tablename__ = "registry_settings"

    subject: Mapped[str] = mapped_column(String(255), primary_key=True)
    compatibility: Mapped[str | None] = mapped_column(String(32))
    mode: Mapped[str | None] = mapped_column(String(32))
    lint: Mapped[str | None] = mapped_column(String(16))


# --- gateway: identity and catalogue ---------------------------------------------------------

ACCESS_RIGHTS: Final = ("PUBLIC", "RESTRICTED", "NON_PUBLIC")


class Client(Base):
    """An OAuth2 client of an agency: a system, a connector or a person's tool."""

    __tablename__ = "clients"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    # A slow salted hash in a self-describing format (``scrypt$n$r$p$salt$hash``); never the secret.
    secret_hash: Mapped[str] = mapped_column(String(255))
    scopes: Mapped[str] = mapped_column(String(500))  # space-separated, as OAuth2 writes them
    enabled: Mapped[bool] = mapped_column(default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())
    secret_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SigningKey(Base):
    """A token signing key: published in JWKS from ``created_at``, signing from ``active_from``,
    no longer signing after ``retired_at``, dropped from JWKS once its tokens have expired."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    # The private key, encrypted with the configured key-encryption key (never stored in clear).
    private_key: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())
    active_from: Mapped[datetime] = mapped_column(UTCDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RevokedToken(Base):
    """A revoked access token, until it would have expired anyway."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())


class AuthVersion(Base):
    """One row counting every change authentication cares about: a database trigger adds one on
    each insert, update or delete of ``agencies``, ``clients`` and ``revoked_tokens`` (migration
    0010), so a raw SQL change counts too. Every process polls it to know when to reload its
    in-memory view of identities (:mod:`services.core.auth.view`)."""

    __tablename__ = "auth_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger, default=0)


class Dataset(Base):
    """A named stream owned by one agency, with catalogue metadata in the spirit of DCAT-AP."""

    __tablename__ = "datasets"
    __table_args__ = (
        CheckConstraint(
            "access_rights IN (" + ", ".join(f"'{a}'" for a in ACCESS_RIGHTS) + ")",
            name="access_rights",
        ),
        UniqueConstraint("agency_id", "name"),
    )

    id: Mapped[str] = mapped_column(String(65), primary_key=True)  # "<agency>.<dataset>"
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"), index=True)
    name: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    theme: Mapped[str | None] = mapped_column(String(64), index=True)
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    access_rights: Mapped[str] = mapped_column(String(16))
    licence: Mapped[str | None] = mapped_column(String(200))
    contact_point: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    update_frequency: Mapped[str | None] = mapped_column(String(32))
    retention_ms: Mapped[int] = mapped_column(BigInteger)
    partitions: Mapped[int] = mapped_column(Integer)
    major_version: Mapped[int] = mapped_column(Integer, default=1)
    compatibility: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())


# --- sharing: agreements, subscriptions, idempotency, audit ----------------------------------

AGREEMENT_STATES: Final = ("requested", "active", "rejected", "revoked", "expired")


class Agreement(Base):
    """A data-sharing agreement: ``provider`` grants ``consumer`` access to one dataset, for a
    purpose and a legal basis, until ``valid_until``, limited to ``granted_fields``."""

    __tablename__ = "agreements"
    __table_args__ = (
        CheckConstraint(
            "state IN (" + ", ".join(f"'{s}'" for s in AGREEMENT_STATES) + ")", name="state"
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"), index=True)
    provider_agency: Mapped[str] = mapped_column(ForeignKey("agencies.id"), index=True)
    consumer_agency: Mapped[str] = mapped_column(ForeignKey("agencies.id"), index=True)
    purpose: Mapped[str] = mapped_column(Text)
    legal_basis: Mapped[str] = mapped_column(Text)
    # Field paths asked for; None asks for every field that is not personal data.
    requested_fields: Mapped[list[str] | None] = mapped_column(JSON)
    # Field paths granted on approval (what the consumer receives); None until approved.
    granted_fields: Mapped[list[str] | None] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), index=True)
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime())
    # The derived reader schema of the granted fields, registered in the registry.
    reader_subject: Mapped[str | None] = mapped_column(String(255))
    reader_schema_id: Mapped[int | None] = mapped_column(Integer)
    requested_by: Mapped[str] = mapped_column(String(64))
    decided_by: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Subscription(Base):
    """A consumer's cursor on a dataset under an agreement; offsets live in a Kafka group."""

    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("consumer_agency", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    agreement_id: Mapped[str] = mapped_column(ForeignKey("agreements.id"), index=True)
    consumer_agency: Mapped[str] = mapped_column(ForeignKey("agencies.id"), index=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    group_id: Mapped[str] = mapped_column(String(200), unique=True)
    format: Mapped[str] = mapped_column(String(8), default="json")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())
    # A push subscription's endpoint (connect's webhook-sink delivers to it); None: pull/stream.
    push_url: Mapped[str | None] = mapped_column(String(2048))


class IdempotencyKey(Base):
    """The first answer to a publish batch sent with an ``Idempotency-Key`` (kept 24 hours)."""

    __tablename__ = "idempotency_keys"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(String(65), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    # in progress: who holds the claim and until when (renewed while it works); and, once its
    # records are acknowledged and about to be committed, its transactional id (``response``
    # then holds the answer it is about to give)
    owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    transactional_id: Mapped[str | None] = mapped_column(String(255), nullable=True)


class AuditRecord(Base):
    """One act of sharing, in a hash chain: ``hash`` = SHA-256 over the record and ``prev_hash``."""

    __tablename__ = "audit_records"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    time: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    action: Mapped[str] = mapped_column(String(48), index=True)
    actor_agency: Mapped[str | None] = mapped_column(String(32), index=True)
    actor_client: Mapped[str | None] = mapped_column(String(64))
    provider_agency: Mapped[str | None] = mapped_column(String(32), index=True)
    consumer_agency: Mapped[str | None] = mapped_column(String(32), index=True)
    dataset_id: Mapped[str | None] = mapped_column(String(65), index=True)
    agreement_id: Mapped[str | None] = mapped_column(String(36), index=True)
    record_count: Mapped[int] = mapped_column(Integer, default=0)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    offsets: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    request_id: Mapped[str | None] = mapped_column(String(128))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditOutbox(Base):
    """An audit record stored in the chain but not yet acknowledged by the ``ndxp.audit`` topic;
    the relay publishes it outside any transaction and then deletes this row."""

    __tablename__ = "audit_outbox"

    seq: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("audit_records.seq"), primary_key=True, autoincrement=False
    )


class AuditRelay(Base):
    """Leases (:mod:`services.core.db.lease`), the first being the audit relay's on publishing
    the outbox: one relay at a time across replicas, so the topic receives the chain in order.
    ``holder`` is the holder's id; it holds the lease until ``until``."""

    __tablename__ = "audit_relay"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64), default="")
    until: Mapped[datetime] = mapped_column(UTCDateTime())
