"""``ndxp connect ...`` as an operator runs it: a YAML file applied to a real worker, then the
connector listed, paused, exported and deleted, all through the CLI process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.integration.connect.conftest import (
    Connect,
    Dataset,
    insert_people,
    read_topic,
    sql_config,
    wait_for_state,
)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the CLI does not depend on the source's database."""
    return f"sqlite+aiosqlite:///{tmp_path / 'source.db'}"


async def ndxp(*args: str) -> subprocess.CompletedProcess[str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli",
        "connect",
        *args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return subprocess.CompletedProcess(args, process.returncode, out.decode(), err.decode())


async def test_connectors_as_code_through_the_cli(
    connect: Connect,
    dataset: Dataset,
    source_url: str,
    kafka_bootstrap: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await insert_people(source_url, range(1, 21))
    # The worker resolves the reference from its own environment; the file never holds the URL.
    monkeypatch.setenv("NDXP_TEST_SOURCE_URL", source_url)
    name = f"cli-{dataset.agency}"
    config = {**sql_config(dataset, source_url), "url": "${env:NDXP_TEST_SOURCE_URL}"}
    tmp_path = connect.settings.data_dir
    definition = tmp_path / "connectors.yaml"
    definition.write_text(yaml.safe_dump({"connectors": [{"name": name, "config": config}]}))

    async with connect.serve() as http:
        url = str(http.base_url)
        applied = await ndxp("apply", str(definition), "--url", url)
        assert applied.returncode == 0, applied.stderr
        assert applied.stdout.strip() == f"{name}: created"
        await read_topic(kafka_bootstrap, dataset.topic, 20)
        again = await ndxp("apply", str(definition), "--url", url)
        assert again.stdout.strip() == f"{name}: updated"

        await wait_for_state(http, name, "RUNNING")
        listed = await ndxp("list", "--url", url)
        assert listed.stdout.split("\t")[:2] == [name, "RUNNING"]
        paused = await ndxp("pause", name, "--url", url)
        assert paused.returncode == 0, paused.stderr
        await wait_for_state(http, name, "PAUSED")

        exported = yaml.safe_load((await ndxp("export", "--url", url)).stdout)
        assert exported == {"connectors": [{"name": name, "config": config}]}

        deleted = await ndxp("delete", name, "--url", url)
        assert deleted.stdout.strip() == f"{name}: deleted"
        assert (await http.get(f"/connectors/{name}")).status_code == 404
        missing = await ndxp("status", name, "--url", url)
        assert missing.returncode == 1
        assert "404" in missing.stderr

    broken = tmp_path / "broken.yaml"
    broken.write_text("connectors:\n  - config: {}\n")
    refused = await ndxp("apply", str(broken), "--url", "http://127.0.0.1:9")
    assert refused.returncode == 1
    assert "needs a 'name' and a 'config'" in refused.stderr
