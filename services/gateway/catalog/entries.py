"""The catalogue: who may see which dataset, searching it, and one dataset's full entry.

Every agency reads the catalogue; NON_PUBLIC datasets are shown only to their owner, to admins
and to agencies with an agreement for them. That rule is :func:`visible_to`, and only there.
"""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import Awaitable, Container
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.auth.principal import CATALOG_READ, Principal
from services.core.db.models import Agency, Dataset
from services.core.errors import NotFound
from services.core.kafka.offsets import TopicOffsets
from services.core.sharing.agreements import granted_dataset_ids
from services.gateway.backends import Backends
from services.gateway.catalog.metadata import AccessRights, dataset_document, subject_of, topic_of

_T = TypeVar("_T")


class DatasetNotFound(NotFound):
    code = "dataset_not_found"


def visible_to(principal: Principal, dataset: Dataset, granted: Container[str] = ()) -> bool:
    """May ``principal`` know that ``dataset`` exists? ``granted`` holds the ids of the datasets
    its agency has an active agreement for (see :func:`granted_datasets`)."""
    if dataset.access_rights != "NON_PUBLIC":
        return True
    return principal.is_admin or dataset.agency_id == principal.agency or dataset.id in granted


async def granted_datasets(session: AsyncSession, agency: str) -> frozenset[str]:
    """The datasets ``agency`` holds an agreement active now for (by the one rule of
    :mod:`services.core.sharing.agreements`, which delivery applies too)."""
    return await granted_dataset_ids(session, agency, datetime.now(UTC))


def require_reader(principal: Principal) -> None:
    """``catalog:read``, which ``admin`` does not stand in for (see ``services.core.auth.deps``)."""
    principal.require_any(CATALOG_READ)


class CatalogQuery(BaseModel):
    """``GET /v1/catalog``: every given filter must hold; ``q`` matches words of the title,
    description, keywords and id, ignoring case and Vietnamese diacritics."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    q: str | None = Field(default=None, max_length=200)
    agency: str | None = Field(default=None, max_length=32)
    theme: str | None = Field(default=None, max_length=64)
    access_rights: AccessRights | None = None
    page: int = Field(default=1, ge=1, le=100_000)
    page_size: int = Field(default=20, ge=1, le=100)


async def search(backends: Backends, principal: Principal, query: CatalogQuery) -> dict[str, Any]:
    """One page of the datasets ``principal`` may see that match ``query``, and their total."""
    require_reader(principal)
    statement = select(Dataset, Agency).join(Agency, Agency.id == Dataset.agency_id)
    if query.agency:
        statement = statement.where(Dataset.agency_id == query.agency)
    if query.theme:
        statement = statement.where(func.lower(Dataset.theme) == query.theme.lower())
    if query.access_rights:
        statement = statement.where(Dataset.access_rights == query.access_rights)
    async with backends.sessions() as session:
        rows = (await session.execute(statement.order_by(Dataset.id))).all()
        granted = await granted_datasets(session, principal.agency)
    terms = _words(query.q or "")
    found = [
        (dataset, agency)
        for dataset, agency in rows
        if visible_to(principal, dataset, granted) and _matches(dataset, terms)
    ]
    start = (query.page - 1) * query.page_size
    return {
        "items": [dataset_document(d, a) for d, a in found[start : start + query.page_size]],
        "total": len(found),
        "page": query.page,
        "page_size": query.page_size,
    }


def _fold(text: str) -> str:
    """Lower case without diacritics: "Cư trú" and "CU TRU" fold alike."""
    decomposed = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _words(text: str) -> list[str]:
    return _fold(text).split()


def _matches(dataset: Dataset, terms: list[str]) -> bool:
    if not terms:
        return True
    haystack = _fold(" ".join([dataset.id, dataset.title, dataset.description, *dataset.keywords]))
    return all(term in haystack for term in terms)


async def load_dataset(session: AsyncSession, dataset_id: str) -> tuple[Dataset, Agency] | None:
    """The dataset and its publisher, or None."""
    row = (
        await session.execute(
            select(Dataset, Agency)
            .join(Agency, Agency.id == Dataset.agency_id)
            .where(Dataset.id == dataset_id)
        )
    ).first()
    return None if row is None else (row[0], row[1])


async def visible_dataset(
    backends: Backends, principal: Principal, dataset_id: str
) -> tuple[Dataset, Agency]:
    """The dataset and its publisher; ``DatasetNotFound`` alike for unknown and invisible ones,
    so that a NON_PUBLIC dataset's existence does not leak."""
    async with backends.sessions() as session:
        found = await load_dataset(session, dataset_id)
        granted = await granted_datasets(session, principal.agency)
    if found is None or not visible_to(principal, found[0], granted):
        raise DatasetNotFound(f"dataset {dataset_id!r} not found")
    return found


async def entry(
    backends: Backends, principal: Principal, dataset_id: str, auth: str | None
) -> dict[str, Any]:
    """A dataset's full catalogue entry: metadata, publisher, contract, versions and volume."""
    require_reader(principal)
    dataset, publisher = await visible_dataset(backends, principal, dataset_id)
    subject = subject_of(dataset)
    # Any principal may read contracts and the entry is visible to this one (checked above), so
    # what the registry and Kafka said is shared by every reader for a couple of seconds.
    topic = topic_of(dataset)
    contract, versions, offsets = await asyncio.gather(
        backends.entries.get(
            ("contract", subject), lambda: _or_none(backends.registry.contract(subject, auth))
        ),
        backends.entries.get(
            ("versions", subject), lambda: _or_none(backends.registry.versions(subject, auth))
        ),
        backends.entries.get(("offsets", topic), lambda: _or_none(backends.offsets.offsets(topic))),
    )
    document = dataset_document(dataset, publisher)
    document["contract"] = contract
    document["versions"] = versions or []
    document["metrics"] = None if offsets is None else metrics_document(offsets)
    return document


async def _or_none(call: Awaitable[_T]) -> _T | None:
    """None when the registry has lost the subject or Kafka the topic (removed by hand): the
    entry still shows what the catalogue knows. Unavailability is still a 503."""
    try:
        return await call
    except NotFound:  # RegistryNotFound included
        return None


def metrics_document(offsets: TopicOffsets) -> dict[str, Any]:
    """The dataset's volume: records, transaction markers and aborted records excluded
    (:mod:`services.core.kafka.offsets`); ``records_exact`` false while part of a large topic is
    still counted as offsets (an upper bound, exact after a few looks)."""
    return {
        "records": offsets.records,
        "records_exact": offsets.count.exact,
        "partitions": [
            {
                "partition": p.partition,
                "beginning_offset": p.beginning,
                "end_offset": p.end,
                "records": p.records,
                "records_exact": p.count.exact,
            }
            for p in offsets.partitions
        ],
    }
