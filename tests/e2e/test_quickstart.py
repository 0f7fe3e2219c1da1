"""docs/quickstart.md, executed: its shell blocks run in order, as a reader pastes them, against a
real ``make run`` on the ports the page names (so they must be free), and what the reader is told
to expect is checked in what the commands printed and on the broker."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer

from tests.fixtures.hub import descendants

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "quickstart.md"
PORTS = (8080, 8081, 8083, 8099, 9092, 9093)  # the hub's defaults and the page's receiver
BACKGROUND = "<!-- quickstart: background -->"
SCRIPT_TIMEOUT = 300.0
_BLOCK = re.compile(r"^(?P<marker><!--[^\n]*-->\n)?```sh\n(?P<body>.*?)^```$", re.M | re.S)


@dataclass(frozen=True)
class Block:
    body: str
    background: bool


def blocks(page: str) -> list[Block]:
    """The page's ``sh`` blocks in order; a block right after the background marker runs apart."""
    return [
        Block(m["body"], (m["marker"] or "").strip() == BACKGROUND) for m in _BLOCK.finditer(page)
    ]


def test_the_page_has_one_background_block_first() -> None:
    found = blocks(PAGE.read_text())
    assert len(found) > 10
    assert [b.background for b in found].count(True) == 1
    assert found[0].background


def _port_taken(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _stop(process: subprocess.Popen[bytes]) -> None:
    family = descendants(process.pid)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
    for pid in family:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _run(script: str, env: dict[str, str], log: Path) -> tuple[int, str]:
    """The script's exit code and everything it printed; what it left running is killed.

    The output goes to a file, not a pipe: a server the page starts in the background would
    hold a pipe open after the script ended.
    """
    with log.open("wb") as out:
        shell = subprocess.Popen(
            ["bash", "-c", script],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        returncode = shell.wait(timeout=SCRIPT_TIMEOUT)
    except subprocess.TimeoutExpired:
        returncode = -1
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(shell.pid, signal.SIGKILL)  # the page's receiver, or all of it on time-out
    return returncode, log.read_text(errors="replace")


async def _dead_letters(topic: str) -> list[dict[str, bytes]]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers="127.0.0.1:9092", auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        found = await consumer.getmany(timeout_ms=5000)
        return [dict(r.headers) for records in found.values() for r in records]
    finally:
        await consumer.stop()


def test_quickstart_runs_as_written(tmp_path: Path) -> None:
    taken = [port for port in PORTS if _port_taken(port)]
    assert not taken, f"the quickstart uses these ports and they are taken: {taken}"
    found = blocks(PAGE.read_text())
    env = {k: v for k, v in os.environ.items() if not k.startswith("NDXP_")}
    env["NDXP_DATA_DIR"] = str(tmp_path / "data")  # the reader's ~/.local/share/ndxp stays theirs
    hub_log = tmp_path / "hub.log"
    with hub_log.open("wb") as log:
        hub = subprocess.Popen(
            ["bash", "-c", found[0].body],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        script = "set -euo pipefail\n" + "".join(
            f"echo '>>> block {n}'\n{block.body}" for n, block in enumerate(found[1:], 1)
        )
        started = time.monotonic()
        returncode, transcript = _run(script, env, tmp_path / "script.log")
        hub_text = hub_log.read_text(errors="replace")
        assert returncode == 0, f"{transcript}\n--- hub log ---\n{hub_text[-20000:]}"
        print(f"quickstart ran in {time.monotonic() - started:.1f}s")  # noqa: T201

        # Pull, stream and push delivered the granted fields and never the ungranted PII.
        assert "Nguyễn Minh Anh" in transcript
        assert "0012260000" not in transcript, "a personal identification number was delivered"
        assert transcript.count("data:") >= 2, transcript  # the SSE stream's two events
        # The contract refused the bad record, naming the field.
        assert "province_code" in transcript
        # The connector ran, its good row was delivered, the bad one is dead-lettered with why.
        assert "RUNNING" in transcript
        assert "Phạm Thu Hà" in transcript
        assert "Đỗ Quang Huy" not in transcript
        dead = asyncio.run(_dead_letters("ndxp.dlq.births-csv"))
        assert len(dead) == 1, dead
        assert b"province_code" in dead[0]["ndxp-error"]
        # The webhook got a signed delivery; metrics and the audit trail tell what was shared.
        assert re.search(r"t=\d+,v1=[0-9a-f]{64}", transcript), transcript
        assert "ndxp_events_delivered_total{" in transcript
        assert re.search(r"\tdeliver\tmoh\tdemo\tmoh\t[1-9]", transcript), transcript
        assert "audit trail intact" in transcript
    finally:
        _stop(hub)
