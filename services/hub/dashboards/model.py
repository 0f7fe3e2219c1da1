"""What a dashboard is made of, as plain data: boards of rows of panels of PromQL queries.

The boards themselves are in :mod:`.boards`; :mod:`.render` turns them into Grafana's JSON with
grafana-foundation-sdk. Nothing here imports the SDK, so the boards can be read (by a test, by a
tool) without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["timeseries", "stat", "table", "bargauge"]


@dataclass(frozen=True)
class Query:
    """One PromQL expression of a panel and the legend of its series (Grafana's ``{{label}}``)."""

    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    """A panel: a title, its queries, the unit of their values and how they are drawn.

    ``stat``, ``table`` and ``bargauge`` panels ask for the value now (an instant query);
    ``timeseries`` panels for a range.
    """

    title: str
    queries: tuple[Query, ...]
    unit: str = "short"
    kind: Kind = "timeseries"
    description: str = ""
    width: int = 12  # of 24 columns


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...]


@dataclass(frozen=True)
class Variable:
    """A template variable listing the values of ``label`` on ``metric``'s series (Grafana's
    ``label_values(metric, label)``); queries use it as ``$name``."""

    name: str
    label: str
    metric: str
    title: str
    include_all: bool = False  # "All" selects every value: use it with =~ only

    @property
    def query(self) -> str:
        return f"label_values({self.metric}, {self.label})"


@dataclass(frozen=True)
class Board:
    """One dashboard: its stable uid (Grafana links and provisioning keep it), title, what it
    answers, its variables and rows."""

    uid: str
    title: str
    description: str
    rows: tuple[Row, ...]
    variables: tuple[Variable, ...] = ()

    def panels(self) -> tuple[Panel, ...]:
        return tuple(panel for row in self.rows for panel in row.panels)


def panel(
    title: str,
    *queries: str | Query,
    unit: str = "short",
    kind: Kind = "timeseries",
    legend: str = "",
    description: str = "",
    width: int = 12,
) -> Panel:
    """A panel in one line: plain strings are queries with ``legend`` as their legend."""
    made = tuple(q if isinstance(q, Query) else Query(q, legend) for q in queries)
    return Panel(title, made, unit, kind, description, width)


def stat(title: str, expr: str, *, unit: str = "short", description: str = "") -> Panel:
    """A single number, a quarter of the width."""
    return panel(title, expr, unit=unit, kind="stat", description=description, width=6)
