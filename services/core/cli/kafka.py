"""The Kafka cluster a command (``ndxp audit verify --kafka``) or a service started alone talks
to: ``NDXP_KAFKA_BOOTSTRAP``, else the broker ``ndxp up`` runs for the data dir, if one runs."""

from __future__ import annotations

from services.core.cli.errors import SET_UP, CommandError
from services.core.config import ServiceSettings
from services.core.local_kafka import local_broker_dir, running_broker


async def kafka_bootstrap(settings: ServiceSettings) -> str:
    """The bootstrap servers to use; :class:`CommandError` when none is set and none runs."""
    if settings.kafka.bootstrap:
        return settings.kafka.bootstrap
    found = await running_broker(local_broker_dir(settings.data_dir))
    if found is None:
        raise CommandError(
            f"no Kafka broker runs for {settings.data_dir}; set NDXP_KAFKA_BOOTSTRAP", SET_UP
        )
    return found
