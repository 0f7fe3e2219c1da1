"""Creating datasets, evolving their contracts and editing their catalogue metadata.

Creating a dataset touches three systems: the registry (the contract), Kafka (the topic) and the
control plane (the catalogue row). Everything that can be checked is checked before any of them
is written; then the steps run in this order, each undone if a later one fails:

1. the Kafka topic is created. Topic creation is atomic in Kafka, so it is also the claim on the
   name: of two requests racing to create the same dataset (on any replicas), exactly one creates
   the topic and the other gets a 409 before it has written anything;
2. the subject's compatibility level is set and the contract registered;
3. the catalogue row is inserted: the dataset exists from the moment it is committed.

Undoing deletes what this request made: the topic (empty: nothing can publish to a dataset without
its row), the subject (permanently) or the version it added, the subject's compatibility setting.
An existing subject (pushed earlier from contracts as code) is adopted, not replaced.

Scopes: creating needs ``publish`` (or ``admin``, who may also name another agency); evolving a
contract needs ``registry:write``; editing metadata ``publish`` (or ``admin``). The gateway writes
to the registry with the caller's own token, so when the registry requires tokens (the default)
creating a dataset needs ``registry:write`` as well, and is refused before anything is written.
Only the owner agency (or an admin) may change a dataset.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.auth.principal import ADMIN, PUBLISH, REGISTRY_WRITE, Principal
from services.core.avro.registry_client import IncompatibleContract, InvalidContract
from services.core.db.models import Agency, Dataset
from services.core.errors import BadRequest, Conflict, Forbidden, Unavailable
from services.core.kafka.admin import TopicSpec, delete_topic, ensure_topic
from services.core.kafka.topics import dataset_topic
from services.gateway.backends import Backends
from services.gateway.catalog.entries import DatasetNotFound, load_dataset, visible_dataset
from services.gateway.catalog.metadata import ContractIn, DatasetIn, DatasetPatch, subject_of
from services.gateway.identity.agencies import AgencyDisabled, AgencyNotFound

log = logging.getLogger(__name__)
_T = TypeVar("_T")


class DatasetExists(Conflict):
    code = "dataset_exists"


class TopicExists(Conflict):
    code = "topic_exists"


def owner_for(principal: Principal, requested: str | None) -> str:
    """The agency a new dataset belongs to: the caller's own; an admin may name another."""
    principal.require_any(PUBLISH, ADMIN)
    if requested is None or requested == principal.agency:
        return principal.agency
    if principal.is_admin:
        return requested
    raise Forbidden(f"agency {principal.agency!r} cannot create datasets for {requested!r}")


async def create_dataset(
    backends: Backends, principal: Principal, data: DatasetIn, auth: str | None
) -> tuple[Dataset, Agency, dict[str, Any]]:
    """Register the contract, create the topic and the row; nothing is left if a step fails.

    Returns the dataset, its publisher and the registered contract (:func:`contract_document`).
    """
    owner = owner_for(principal, data.agency)
    if backends.registry_requires_tokens:  # the contract is registered with the caller's own token
        principal.require_any(REGISTRY_WRITE)
    topic = dataset_topic(owner, data.name)
    subject, schema = f"{topic}-value", data.text
    async with backends.sessions() as session:
        publisher = await _publisher(session, principal, owner)
        if await session.get(Dataset, f"{owner}.{data.name}") is not None:
            raise DatasetExists(f"dataset {owner}.{data.name} already exists")

    existing = await backends.registry.versions(subject, auth) or []
    problems = await _refused_as_invalid(backends.registry.test(subject, schema, auth))
    if problems:
        raise InvalidContract(
            f"the contract is incompatible with {subject}, registered before: {'; '.join(problems)}"
        )
    previous_config = await backends.registry.subject_config(subject, auth) if existing else None

    spec = TopicSpec(topic, partitions=data.partitions, retention_ms=data.retention_ms)
    async with Undo(f"creating dataset {owner}.{data.name}") as undo:
        if not await _create_topic(backends, spec):
            raise TopicExists(f"Kafka topic {topic!r} already exists; ask an operator")
        undo.push(
            f"topic {topic}",
            lambda: delete_topic(backends.kafka, topic, bootstrap=backends.bootstrap),
        )

        await backends.registry.set_compatibility(subject, data.compatibility, auth)
        undo.push(
            f"config of {subject}",
            lambda: _restore_config(backends, subject, previous_config, auth),
        )
        registered = await _refused_as_invalid(backends.registry.register(subject, schema, auth))
        version = int(registered["version"])
        if not existing:
            undo.push(f"subject {subject}", lambda: backends.registry.delete_subject(subject, auth))
        elif version > max(existing):
            undo.push(
                f"{subject} v{version}",
                lambda: backends.registry.delete_version(subject, version, auth),
            )

        dataset = await _insert(backends, data, owner)
    log.info("dataset %s created by %s (%s)", dataset.id, principal.client_id, principal.agency)
    return dataset, publisher, contract_document(subject, registered)


async def _publisher(session: AsyncSession, principal: Principal, owner: str) -> Agency:
    agency = await session.get(Agency, owner)
    if agency is None:
        if owner == principal.agency:
            raise Forbidden(f"agency {owner!r} is not registered with the hub")
        raise AgencyNotFound(f"agency {owner!r} does not exist")
    if not agency.enabled:
        raise AgencyDisabled(f"agency {owner!r} is disabled")
    return agency


async def _refused_as_invalid(call: Awaitable[_T]) -> _T:
    """At creation, any refusal of the contract by the registry is the contract's fault: 422."""
    try:
        return await call
    except IncompatibleContract as exc:
        raise InvalidContract(exc.message, errors=exc.errors) from exc


async def _create_topic(backends: Backends, spec: TopicSpec) -> bool:
    try:
        return await ensure_topic(backends.kafka, spec, bootstrap=backends.bootstrap)
    except BadRequest as exc:  # partitions and retention were checked: the cluster's settings
        raise Unavailable(f"Kafka could not create topic {spec.name!r}: {exc.message}") from exc


async def _restore_config(
    backends: Backends, subject: str, previous: dict[str, Any] | None, auth: str | None
) -> None:
    if previous is None:
        await backends.registry.delete_config(subject, auth)
    else:
        await backends.registry.set_compatibility(subject, previous["compatibilityLevel"], auth)


async def _insert(backends: Backends, data: DatasetIn, owner: str) -> Dataset:
    dataset = Dataset(
        id=f"{owner}.{data.name}",
        agency_id=owner,
        name=data.name,
        title=data.title,
        description=data.description,
        theme=data.theme,
        keywords=data.keywords,
        access_rights=data.access_rights,
        licence=data.licence,
        contact_point=data.contact_point.model_dump(),
        update_frequency=data.update_frequency,
        retention_ms=data.retention_ms,
        partitions=data.partitions,
        major_version=1,
        compatibility=data.compatibility,
    )
    try:
        async with backends.sessions.begin() as session:
            session.add(dataset)
            await session.flush()
            await session.refresh(dataset)
    except IntegrityError as exc:
        raise DatasetExists(f"dataset {dataset.id} already exists") from exc
    return dataset


class Undo:
    """Steps that undo what a block did, run last-first if the block fails; a step that fails
    itself is logged (with what is left behind) and does not hide the block's error."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._steps: list[tuple[str, Callable[[], Awaitable[object]]]] = []

    def push(self, name: str, step: Callable[[], Awaitable[object]]) -> None:
        self._steps.append((name, step))

    async def __aenter__(self) -> Undo:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            return
        log.warning("%s failed (%s); undoing %d step(s)", self.what, exc, len(self._steps))
        for name, step in reversed(self._steps):
            try:
                await step()
            except Exception:
                log.exception("could not undo %s while %s: remove it by hand", name, self.what)


def contract_document(subject: str, registered: dict[str, Any]) -> dict[str, Any]:
    """What the registry answered to a registration: schema id, version, lint warnings."""
    return {
        "subject": subject,
        "id": registered["id"],
        "version": registered["version"],
        "warnings": registered.get("warnings", []),
    }


# --- changing a dataset ------------------------------------------------------------------------


async def owned_dataset(
    backends: Backends, principal: Principal, dataset_id: str
) -> tuple[Dataset, Agency]:
    """The dataset if the principal's agency owns it (or is an admin): 404 if it may not even see
    it, 403 if it may see it but not change it."""
    dataset, publisher = await visible_dataset(backends, principal, dataset_id)
    if dataset.agency_id != principal.agency and not principal.is_admin:
        raise Forbidden(f"dataset {dataset_id} belongs to agency {dataset.agency_id!r}")
    return dataset, publisher


async def evolve_contract(
    backends: Backends, principal: Principal, dataset_id: str, data: ContractIn, auth: str | None
) -> dict[str, Any]:
    """Register a new version of the contract; the registry's compatibility check decides (409)."""
    principal.require_any(REGISTRY_WRITE)
    dataset, _ = await owned_dataset(backends, principal, dataset_id)
    subject = subject_of(dataset)
    registered = await backends.registry.register(subject, data.text, auth)
    for kind in ("contract", "versions"):  # this replica shows the new version at once
        backends.entries.forget((kind, subject))
    await _touch(backends, dataset)
    log.info("contract of %s now at version %s", dataset.id, registered.get("version"))
    return {"dataset": dataset.id, **contract_document(subject, registered)}


async def update_dataset(
    backends: Backends, principal: Principal, dataset_id: str, patch: DatasetPatch
) -> tuple[Dataset, Agency]:
    """Change catalogue metadata: title, description, theme, keywords, access rights, ..."""
    principal.require_any(PUBLISH, ADMIN)
    await owned_dataset(backends, principal, dataset_id)
    async with backends.sessions.begin() as session:
        found = await load_dataset(session, dataset_id)
        if found is None:  # deleted in between
            raise DatasetNotFound(f"dataset {dataset_id!r} not found")
        dataset, publisher = found
        for column, value in patch.changes().items():
            setattr(dataset, column, value)
        dataset.updated_at = datetime.now(UTC)
    return dataset, publisher


async def _touch(backends: Backends, dataset: Dataset) -> None:
    async with backends.sessions.begin() as session:
        row = await session.get(Dataset, dataset.id)
        if row is not None:
            row.updated_at = datetime.now(UTC)
