"""The boards of :mod:`.boards` as Grafana dashboard JSON, built with grafana-foundation-sdk.

Every panel reads the data source the dashboard's ``datasource`` variable names (the provisioned
one by default, any Prometheus the viewer picks), so nothing in a dashboard names a data source
instance. Panels are laid out row by row, left to right, in the order the boards list them.
"""

from __future__ import annotations

import json
import string
from typing import Any, Final

from grafana_foundation_sdk.builders import bargauge, prometheus, stat, table, timeseries
from grafana_foundation_sdk.builders import dashboard as grafana
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DashboardLinkType,
    DataSourceRef,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from services.hub.dashboards.model import Board, Kind, Panel, Variable

TAG: Final = "ndxp"
HEIGHT: Final = 8
DATASOURCE: Final = DataSourceRef(type_val="prometheus", uid="${datasource}")
REF_IDS: Final = string.ascii_uppercase

PanelBuilder = timeseries.Panel | stat.Panel | table.Panel | bargauge.Panel
BUILDERS: Final[dict[Kind, type[PanelBuilder]]] = {
    "timeseries": timeseries.Panel,
    "stat": stat.Panel,
    "table": table.Panel,
    "bargauge": bargauge.Panel,
}


def render(board: Board) -> dict[str, Any]:
    """``board`` as the JSON object Grafana imports (and provisions from a file)."""
    built = (
        grafana.Dashboard(board.title)
        .uid(board.uid)
        .description(board.description)
        .tags([TAG])
        .editable()
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .time("now-1h", "now")
        .refresh("30s")
        .link(
            grafana.DashboardLink("ndxp")
            .type(DashboardLinkType.DASHBOARDS)
            .tags([TAG])
            .as_dropdown(True)
            .include_vars(False)
            .keep_time(True)
        )
        .with_variable(
            grafana.DatasourceVariable("datasource").label("Data source").type("prometheus")
        )
    )
    for variable in board.variables:
        built = built.with_variable(_variable(variable))
    panel_id = 0
    for row in board.rows:
        panel_id += 1
        built = built.with_row(grafana.Row(row.title).id(panel_id))
        for panel in row.panels:
            panel_id += 1
            built = built.with_panel(_panel(panel).id(panel_id))
    found: dict[str, Any] = json.loads(json.dumps(built.build(), cls=JSONEncoder))
    return found


def dump(board: Board) -> str:
    """The file's text: stable key order, so a regenerated board diffs only where it changed."""
    return json.dumps(render(board), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _variable(variable: Variable) -> grafana.QueryVariable:
    built = (
        grafana.QueryVariable(variable.name)
        .label(variable.title)
        .datasource(DATASOURCE)
        .query(variable.query)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
    )
    if variable.include_all:
        built = built.include_all(True).all_value(".*")
    return built


def _panel(panel: Panel) -> PanelBuilder:
    instant = panel.kind != "timeseries"
    built = (
        BUILDERS[panel.kind]()
        .title(panel.title)
        .datasource(DATASOURCE)
        .unit(panel.unit)
        .span(panel.width)
        .height(HEIGHT)
    )
    if panel.description:
        built = built.description(panel.description)
    for ref_id, query in zip(REF_IDS, panel.queries, strict=False):
        target = prometheus.Dataquery().expr(query.expr).ref_id(ref_id)
        if query.legend:
            target = target.legend_format(query.legend)
        if instant:
            target = target.instant()
        if panel.kind == "table":
            target = target.format(PromQueryFormat.TABLE)
        built = built.with_target(target)
    return built
