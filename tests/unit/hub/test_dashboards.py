"""The Grafana dashboards as committed: exactly what services/hub/dashboards/ generates, every
panel reading the variable-chosen Prometheus, every variable used, and the provisioning files
pointing Grafana at them. (tests/e2e/test_up_monitoring.py runs every query on a real hub.)"""

from __future__ import annotations

import json
import re

import yaml

from services.hub.dashboards.boards import BOARDS
from services.hub.dashboards.build import DASHBOARDS_DIR, GRAFANA_DIR, generated, main, stale
from services.hub.dashboards.model import Board

PROVISIONING = GRAFANA_DIR / "provisioning"


def test_the_committed_json_is_what_the_boards_generate() -> None:
    assert stale() == [], "run `make dashboards` and commit deploy/monitoring/grafana/dashboards"
    assert main(["--check"]) == 0
    assert sorted(generated()) == sorted(DASHBOARDS_DIR.glob("*.json"))


def test_every_board_has_a_unique_uid_title_and_panel_titles() -> None:
    assert len({board.uid for board in BOARDS}) == len(BOARDS)
    assert len({board.title for board in BOARDS}) == len(BOARDS)
    for board in BOARDS:
        titles = [panel.title for panel in board.panels()]
        assert len(set(titles)) == len(titles), board.uid
        assert all(panel.queries for panel in board.panels()), board.uid


def used_variables(board: Board) -> set[str]:
    exprs = " ".join(q.expr for panel in board.panels() for q in panel.queries)
    return set(re.findall(r"\$(\w+)", exprs)) - {"__rate_interval", "__range"}


def test_every_variable_is_declared_and_used() -> None:
    for board in BOARDS:
        assert used_variables(board) == {v.name for v in board.variables}, board.uid


def test_panels_read_the_chosen_data_source_and_name_no_port() -> None:
    for path in DASHBOARDS_DIR.glob("*.json"):
        document = json.loads(path.read_text())
        variables = {v["name"]: v for v in document["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["query"] == "prometheus"
        for panel in document["panels"]:
            if panel["type"] != "row":
                assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert not re.search(r":\d{4,5}\b", path.read_text()), path  # no host:port anywhere


def test_provisioning_points_grafana_at_the_dashboards_and_a_prometheus() -> None:
    sources = yaml.safe_load((PROVISIONING / "datasources" / "ndxp.yml").read_text())
    [source] = sources["datasources"]
    assert (source["type"], source["isDefault"]) == ("prometheus", True)
    assert source["url"] == "${NDXP_PROMETHEUS_URL}"
    providers = yaml.safe_load((PROVISIONING / "dashboards" / "ndxp.yml").read_text())
    [provider] = providers["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "${NDXP_DASHBOARDS_DIR}"
