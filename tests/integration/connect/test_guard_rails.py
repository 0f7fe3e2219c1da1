"""A real worker refuses, before writing anything, an admin connector that would read files outside
the base directories or open the control-plane database; what it refuses is not created."""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.integration.connect.conftest import (
    Connect,
    Dataset,
    connect_settings,
    sql_config,
    wait_for_state,
)
from tests.integration.connect.test_file_source import file_config


async def test_admin_connectors_stay_inside_their_rails(
    connect: Connect, dataset: Dataset, tmp_path: Path, kafka_bootstrap: str, registry_url: str
) -> None:
    # production's default: file connectors read under <data dir>/drops only
    connect.settings = connect_settings(
        tmp_path / "data", kafka_bootstrap, registry_url, uuid.uuid4().hex[:12], file_base_dirs=[]
    )
    drops = tmp_path / "data" / "drops"
    (drops / "moh").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (drops / "moh" / "out").symlink_to(tmp_path / "elsewhere")
    control = connect.settings.database_url
    refused = {
        "outside": file_config(dataset, tmp_path / "elsewhere"),
        "climbing": file_config(dataset, drops / "moh" / ".." / ".." / ".." / "elsewhere"),
        "symlinked": file_config(dataset, drops / "moh" / "out"),
        "control-plane": sql_config(dataset, control.replace("+aiosqlite", "")),
    }
    messages = {}
    async with connect.serve() as http:
        for name, config in refused.items():
            answer = await http.post("/connectors", json={"name": name, "config": config})
            assert answer.status_code == 400, (name, answer.text)
            body = answer.json()
            assert body["code"] == "invalid_connector_config"
            key = "url" if name == "control-plane" else "directory"
            assert [e["name"] for e in body["errors"]] == [key], body
            messages[name] = body["errors"][0]["message"]
            put = await http.put(f"/connectors/{name}/config", json=config)
            assert put.status_code == 400, put.text
            plugin = config["connector.class"]
            checked = await http.put(f"/connector-plugins/{plugin}/config/validate", json=config)
            assert checked.json()["error_count"] == 1, checked.text
        assert (await http.get("/connectors")).json() == []

        allowed = await http.post(
            "/connectors", json={"name": "inside", "config": file_config(dataset, drops / "moh")}
        )
        assert allowed.status_code == 201, allowed.text
        await wait_for_state(http, "inside", "RUNNING")

    elsewhere = (tmp_path / "elsewhere").resolve()
    assert messages["outside"] == (
        f"{elsewhere} is outside the directories file connectors may read "
        f"(NDXP_CONNECT_FILE_BASE_DIRS: {drops.resolve()})"
    )
    assert messages["climbing"] == messages["symlinked"] == messages["outside"]
    assert "control-plane database" in messages["control-plane"]
