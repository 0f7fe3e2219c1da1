"""Every metric ndxp declares follows Prometheus's naming: a counter's declared name ends in
``_total``, a unit is the last word (before ``_total``), a gauge or histogram never ends in
``_total``, and no ``_created`` series is exported."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import REGISTRY, generate_latest

import services.connectors.app
import services.gateway.app
import services.registry.app  # noqa: F401 - importing the apps declares every metric

SERVICES = Path(__file__).resolve().parents[3] / "services"
DECLARED = re.compile(r"\b(Counter|Gauge|Histogram)\(\s*\"(ndxp_[a-z_]+)\"")
UNITS = ("seconds", "bytes", "records", "ratio")


def declarations() -> list[tuple[str, str, Path]]:
    found = [
        (kind, name, path)
        for path in SERVICES.rglob("*.py")
        for kind, name in DECLARED.findall(path.read_text())
    ]
    assert len(found) > 20, found  # the pattern still finds them
    return found


def test_counters_are_declared_with_total_and_nothing_else_is() -> None:
    for kind, name, path in declarations():
        assert name.endswith("_total") == (kind == "Counter"), (name, path)


def test_units_come_last() -> None:
    for _, name, path in declarations():
        words = name.removesuffix("_total").split("_")
        for unit in UNITS:
            assert unit not in words[:-1], (name, path)


def test_no_created_series() -> None:
    assert b"_created" not in generate_latest(REGISTRY)
