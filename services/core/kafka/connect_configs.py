"""The records of connect's configs topic, as every writer of it spells them.

Connect's workers follow the compacted configs topic (:mod:`services.connectors.store`) and run
what it holds. The REST API of connect writes it, and so does the gateway when a consumer asks for
a push subscription (a ``webhook-sink`` connector under the consumer's agreement): the gateway is
a trusted part of the hub with its own Kafka access, and writes the record the workers would.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from services.core.kafka.producer import Record

CONNECTOR: Final = "connector-"
TARGET: Final = "target-state-"
RESTART: Final = "restart-"


def connector_records(name: str, config: Mapping[str, Any]) -> list[Record]:
    """The records that create (or replace) connector ``name``, running."""
    value = json.dumps({"config": dict(config)}, sort_keys=True).encode()
    return [Record((TARGET + name).encode(), None), Record((CONNECTOR + name).encode(), value)]


def deletion_records(name: str) -> list[Record]:
    """The tombstones that delete connector ``name`` (its workers stop it)."""
    return [Record((prefix + name).encode(), None) for prefix in (CONNECTOR, TARGET, RESTART)]
