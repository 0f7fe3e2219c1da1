"""The registry's own metrics: what it holds (read from the database at each scrape) and what it
was asked to register. Every label value is there at 0 from the start."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge
from sqlalchemy import false, func, select

from services.core.db.models import RegistrySchema, RegistrySubjectVersion
from services.core.http.state import CoreState
from services.registry.compatibility import CompatibilityLevel

OUTCOMES: Final = ("registered", "existing")

SUBJECTS = Gauge(
    "ndxp_registry_subjects",
    "Subjects with at least one live (not soft-deleted) version.",
    multiprocess_mode="livemostrecent",
)
SCHEMAS = Gauge(
    "ndxp_registry_schemas",
    "Schemas stored, each once under its global id, whichever subjects use it.",
    multiprocess_mode="livemostrecent",
)
REGISTRATIONS = Counter(
    "ndxp_registry_registrations_total",
    "Schemas registered: as a subject's new version (registered) or one it had (existing).",
    ["outcome"],
)
COMPATIBILITY_REFUSALS = Counter(
    "ndxp_registry_compatibility_refusals_total",
    "Registrations refused (409) as incompatible with earlier versions, by compatibility level.",
    ["level"],
)
for _outcome in OUTCOMES:
    REGISTRATIONS.labels(_outcome)
for _level in CompatibilityLevel:
    COMPATIBILITY_REFUSALS.labels(_level.value)


async def count_contents(core: CoreState) -> None:
    """Set ``ndxp_registry_subjects`` and ``ndxp_registry_schemas`` from the database."""
    live = RegistrySubjectVersion.deleted == false()
    async with core.sessions() as session:
        subjects = await session.scalar(
            select(func.count(func.distinct(RegistrySubjectVersion.subject))).where(live)
        )
        schemas = await session.scalar(select(func.count()).select_from(RegistrySchema))
    SUBJECTS.set(subjects or 0)
    SCHEMAS.set(schemas or 0)
