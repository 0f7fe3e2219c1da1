"""make bench-connect: what the connect worker moves, end to end, through its own processes.

1. ``sql-source``: a PostgreSQL table of BENCH_ROWS rows (default 1,000,000: id, a Vietnamese
   name, age, updated_at), filled with ``generate_series`` in a throwaway server, read by an
   ``incrementing`` connector with ``batch_size`` BENCH_BATCH (default 10,000) into a dataset topic
   of 3 partitions, every row validated and encoded with the dataset's contract. The time runs from
   ``POST /connectors`` until the connector's committed offset is the last id
   (``GET /connectors/{name}/offsets``); every row must then be on the topic (its end offsets) and
   none in the DLQ. Prints rows/s (target: at least 20,000), the rate once the first batch is
   committed (without the connector's start-up), the worker's CPU time per row (from its
   ``/metrics``: the figure that other load on a shared machine moves least) and, for scale, the
   plugin's polls alone in this process (SQL and row mapping; no validation, no Kafka).
2. ``webhook-sink``: deliveries/s of a topic of BENCH_WEBHOOK_RECORDS records (default 200,000)
   to a local receiver that checks every signature, ``batch_size`` BENCH_WEBHOOK_BATCH records
   per request (default 100); records/s and requests/s (:mod:`bench.connect_webhook`).

Kafka as the other benchmarks have it (``NDXP_KAFKA_BOOTSTRAP``, else a local broker); the
registry and the connect worker are ``ndxp`` processes, open on loopback (:mod:`bench.connect_hub`
holds what the parts share). PostgreSQL is the tests' throwaway server
(:func:`tests.fixtures.postgres.local_postgres`: the local binaries, ``initdb`` + ``pg_ctl``, as
the ``postgres`` user when run as root), started by the sql-source part only.
``python -m bench.connect sql-source`` (or ``webhook-sink``) runs one part only.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from bench.common import kafka, report, run, service
from bench.connect_hub import (
    AGENCY,
    PARTITIONS,
    PERSON,
    Hub,
    cpu_seconds,
    end_offsets,
    register_dataset,
    until,
)
from bench.connect_webhook import webhook_sink
from services.connectors.plugins.sql import SqlSource, SqlSourceConfig
from services.core.config import normalize_database_url
from services.core.kafka.topics import dlq_topic
from services.core.local_kafka import free_port
from tests.fixtures.postgres import local_postgres

TARGET_ROWS_PER_SECOND = 20_000
DATASET = "people"
TABLE = "people"

# A million distinct Vietnamese names from a few syllables: no two rows alike, text of ~20 bytes.
FILL = """
INSERT INTO people (id, name, age, updated_at)
SELECT g,
       (ARRAY['Nguyễn', 'Trần', 'Lê', 'Phạm', 'Hoàng', 'Huỳnh', 'Phan', 'Vũ'])[1 + g % 8]
         || ' ' || (ARRAY['Văn', 'Thị', 'Hữu', 'Ngọc', 'Minh'])[1 + g % 5]
         || ' ' || (ARRAY['An', 'Bình', 'Châu', 'Dũng', 'Giang', 'Hà', 'Khánh'])[1 + g % 7]
         || ' ' || g,
       g % 90,
       TIMESTAMP '2025-01-01 00:00:00' + g * INTERVAL '1 second'
FROM generate_series(1, {rows}) AS g
"""


# --- the source database ----------------------------------------------------------------------


async def fill(url: str, rows: int) -> float:
    """Create ``people`` with ``rows`` rows; the seconds it took."""
    started = time.perf_counter()
    engine = create_async_engine(normalize_database_url(url), poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.exec_driver_sql(
                "CREATE TABLE people (id BIGINT PRIMARY KEY, name VARCHAR(100) NOT NULL,"
                " age INTEGER NOT NULL, updated_at TIMESTAMP NOT NULL)"
            )
            await conn.exec_driver_sql(FILL.format(rows=int(rows)))
            await conn.exec_driver_sql("ANALYZE people")
    finally:
        await engine.dispose()
    return time.perf_counter() - started


def sql_settings(url: str, batch: int) -> dict[str, Any]:
    """The plugin's own keys of the benchmark's connector."""
    return {
        "url": url,
        "table": TABLE,
        "mode": "incrementing",
        "incrementing_column": "id",
        "batch_size": batch,
        "poll_interval_seconds": 0.5,
    }


# --- 1. sql-source -----------------------------------------------------------------------------


async def source_alone(url: str, rows: int, batch: int) -> None:
    """The plugin's polls in this process until the last row: SQL and row mapping only."""
    plugin = SqlSource("bench-alone", SqlSourceConfig(**sql_settings(url, batch)))
    await plugin.start()
    try:
        offset, seen = None, 0
        started = time.perf_counter()
        while True:
            polled = await plugin.poll(offset)
            seen += len(polled.records)
            offset = polled.offset
            if not polled.more:
                break
        took = time.perf_counter() - started
    finally:
        await plugin.stop()
    if seen != rows:
        raise RuntimeError(f"the plugin's polls gave {seen} rows, not {rows}")
    report(
        f"sql-source polls alone (this process, batch_size {batch}, no validation, no Kafka)",
        {"rows": seen, "seconds": took, "rows_per_second": seen / took},
    )


async def sql_source(hub: Hub) -> None:
    """The sql-source part, its table in a throwaway PostgreSQL server of its own."""
    with local_postgres() as url:
        await sql_source_from(hub, url)


async def sql_source_from(hub: Hub, url: str) -> None:
    rows = int(os.environ.get("BENCH_ROWS", "1000000"))
    batch = int(os.environ.get("BENCH_BATCH", "10000"))
    filled = await fill(url, rows)
    report(f"PostgreSQL table of {rows:,} rows (generate_series)", {"fill_seconds": filled})
    await source_alone(url, rows, batch)

    bootstrap = hub.bootstrap
    topic, _ = await register_dataset(hub, DATASET, PERSON)
    name = f"bench-sql-{uuid.uuid4().hex[:6]}"
    config = {
        "connector.class": "sql-source",
        "dataset": f"{AGENCY}.{DATASET}",
        "errors.tolerance": "all",
        **sql_settings(url, batch),
    }
    first: list[float] = []  # when the first offset was committed, and the id it names

    async with httpx.AsyncClient(base_url=hub.connect, timeout=30) as http:

        async def committed() -> bool:
            answer = (await http.get(f"/connectors/{name}/offsets")).json()
            last = answer["offsets"][0]["offset"]["incrementing"] if answer["offsets"] else 0
            if last and not first:
                first.extend((time.perf_counter(), last))
            return bool(last == rows)

        before = await end_offsets(bootstrap, topic, PARTITIONS)  # a shared cluster's old rows
        cpu = await cpu_seconds(http)
        started = time.perf_counter()
        created = await http.post("/connectors", json={"name": name, "config": config})
        if created.status_code != 201:
            raise RuntimeError(f"creating the connector failed: {created.text}")
        done = await until(committed, within=max(600.0, rows / 1000), what="sql-source")
        cpu = await cpu_seconds(http) - cpu
        status = (await http.get(f"/connectors/{name}/status")).json()
        await http.delete(f"/connectors/{name}")

    on_topic = await end_offsets(bootstrap, topic, PARTITIONS) - before
    dead = await end_offsets(bootstrap, dlq_topic(name))
    if on_topic != rows or dead or status["connector"]["state"] != "RUNNING":
        raise RuntimeError(f"{on_topic} rows on the topic, {dead} in the DLQ; status {status}")
    took = done - started
    rate = rows / took
    steady = (rows - first[1]) / (done - first[0]) if done > first[0] else rate
    report(
        f"sql-source {TABLE} ({rows:,} rows, incrementing, batch_size {batch}) -> "
        f"{PARTITIONS}-partition topic, 1 connect worker",
        {
            "rows": rows,
            "seconds": took,
            "rows_per_second": rate,
            "steady_rows_per_second": steady,
            "first_commit_seconds": first[0] - started,
            "worker_cpu_us_per_row": cpu / rows * 1e6,
            "target_rows_per_second": TARGET_ROWS_PER_SECOND,
            "meets_target": "yes" if rate >= TARGET_ROWS_PER_SECOND else "NO",
        },
    )


# --- the run -----------------------------------------------------------------------------------

Part = Callable[[Hub], Awaitable[None]]
PARTS: dict[str, Part] = {"sql-source": sql_source, "webhook-sink": webhook_sink}


async def main() -> None:
    parts = sys.argv[1:] or list(PARTS)
    if unknown := set(parts) - set(PARTS):
        raise SystemExit(f"unknown part(s) {sorted(unknown)}: choose from {list(PARTS)}")
    suffix = uuid.uuid4().hex[:8]
    async with kafka() as bootstrap:
        with tempfile.TemporaryDirectory(prefix="ndxp-bench-") as tmp:
            data = Path(tmp)
            registry_port = free_port()
            env = {
                "NDXP_AUTH_REQUIRE_TOKENS": "false",  # loopback, as the other benchmarks run
                "NDXP_CONNECT_REGISTRY_URL": f"http://127.0.0.1:{registry_port}",
                # topics of their own, should NDXP_KAFKA_BOOTSTRAP name a shared cluster
                **{
                    f"NDXP_CONNECT_{what.upper()}_TOPIC": f"bench.connect-{what}-{suffix}"
                    for what in ("configs", "offsets", "status", "slots")
                },
                "NDXP_CONNECT_GROUP": f"bench-connect-{suffix}",
                # the webhook part's receiver is on loopback, which sinks refuse by default
                "NDXP_PUSH_ALLOWED_NETWORKS": "127.0.0.0/8",
            }
            with (
                service("registry", bootstrap, data, 1, registry_port, **env) as registry,
                service("connect", bootstrap, data, 1, None, **env) as connect,
            ):
                hub = Hub(bootstrap, registry, connect)
                for part in parts:
                    await PARTS[part](hub)


if __name__ == "__main__":
    run(main)
