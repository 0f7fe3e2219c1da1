"""Topic naming: every topic ndxp creates is named here, and every name is checked here.

A dataset ``<agency>.<dataset>`` has one topic per major version of its contract
(``mps.residence-changes.v1``); the hub's own topics live under the reserved ``ndxp`` prefix.
"""

from __future__ import annotations

import re

from services.core.errors import BadRequest

AGENCY_RE = r"[a-z][a-z0-9-]{1,31}"
DATASET_RE = r"[a-z][a-z0-9-]{1,31}"
CONNECTOR_RE = r"[a-z][a-z0-9-]{1,63}"

AUDIT_TOPIC = "ndxp.audit"
CONNECT_OFFSETS_TOPIC = "ndxp.connect-offsets"
CONNECT_CONFIGS_TOPIC = "ndxp.connect-configs"
DLQ_PREFIX = "ndxp.dlq."
RESERVED_AGENCY = "ndxp"

_AGENCY = re.compile(AGENCY_RE)
_DATASET = re.compile(DATASET_RE)
_CONNECTOR = re.compile(CONNECTOR_RE)
_DATASET_TOPIC = re.compile(
    rf"(?P<agency>{AGENCY_RE})\.(?P<dataset>{DATASET_RE})\.v(?P<major>[1-9]\d*)"
)


class InvalidName(BadRequest, ValueError):
    """A name breaks the naming rules: a 400 over HTTP, a ``ValueError`` to pydantic validators."""

    code = "invalid_name"
    title = "Invalid name"


def _check(kind: str, value: str, pattern: re.Pattern[str], max_len: int = 32) -> str:
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        raise InvalidName(
            f"invalid {kind} name {value!r}: 2-{max_len} characters of a-z, 0-9 and '-', "
            "starting with a letter"
        )
    return value


def check_agency(agency: str) -> str:
    """Return ``agency`` if it is a valid agency name, else raise :class:`InvalidName`."""
    _check("agency", agency, _AGENCY)
    if agency == RESERVED_AGENCY:
        raise InvalidName(f"the agency name {agency!r} is reserved for the hub itself")
    return agency


def check_dataset(dataset: str) -> str:
    """Return ``dataset`` if it is a valid dataset name, else raise :class:`InvalidName`."""
    return _check("dataset", dataset, _DATASET)


def check_connector(connector: str) -> str:
    """Return ``connector`` if it is a valid connector name, else raise :class:`InvalidName`."""
    return _check("connector", connector, _CONNECTOR, max_len=64)


def dataset_topic(agency: str, dataset: str, major: int = 1) -> str:
    """The topic of one major version of a dataset: ``<agency>.<dataset>.v<major>``."""
    check_agency(agency)
    check_dataset(dataset)
    if isinstance(major, bool) or not isinstance(major, int) or major < 1:
        raise InvalidName(f"invalid major version {major!r}: an integer from 1")
    return f"{agency}.{dataset}.v{major}"


def parse_dataset_topic(topic: str) -> tuple[str, str, int]:
    """``(agency, dataset, major)`` of a dataset topic; :class:`InvalidName` for any other topic."""
    match = _DATASET_TOPIC.fullmatch(topic)
    if match is None or match["agency"] == RESERVED_AGENCY:
        raise InvalidName(f"{topic!r} is not a dataset topic (<agency>.<dataset>.v<major>)")
    return match["agency"], match["dataset"], int(match["major"])


def is_hub_topic(topic: str) -> bool:
    """Whether ndxp made ``topic``: a dataset's, or one of the hub's own under ``ndxp.``."""
    return topic.startswith(f"{RESERVED_AGENCY}.") or _DATASET_TOPIC.fullmatch(topic) is not None


def dlq_topic(connector: str) -> str:
    """The dead-letter topic of a connector: ``ndxp.dlq.<connector>``."""
    return DLQ_PREFIX + check_connector(connector)


def connector_group(connector: str) -> str:
    """The consumer group a sink connector consumes its dataset in (its offsets are its place)."""
    return f"ndxp-connect-{check_connector(connector)}"
