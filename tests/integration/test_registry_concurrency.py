"""Registrations racing each other, through two registry replicas on one database: one id per
distinct schema, versions 1..n without gaps, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import httpx

from services.registry.app import create_app
from tests.fixtures.registry import registry_settings
from tests.fixtures.servers import serve_app

SAME = {
    "type": "record",
    "name": "Same",
    "doc": "The schema every racer registers.",
    "fields": [{"name": "a", "type": "string", "doc": "a"}],
}


def distinct(i: int) -> dict[str, object]:
    """Schema number ``i`` of a chain in which every one is compatible with every other."""
    return {
        "type": "record",
        "name": "Evolving",
        "doc": "A record that gains optional fields.",
        "fields": [
            {"name": "a", "type": "string", "doc": "a"},
            {"name": f"f{i}", "type": ["null", "long"], "default": None, "doc": f"field {i}"},
        ],
    }


async def test_fifty_concurrent_registrations(
    database_url: str, tmp_path: Path, kafka_bootstrap: str
) -> None:
    settings = [registry_settings(tmp_path / name, kafka_bootstrap, database_url) for name in "ab"]
    tag = uuid.uuid4().hex[:8]
    same_subjects = [f"same-{tag}-1-value", f"same-{tag}-2-value"]
    chain_subject = f"chain-{tag}-value"
    with serve_app(create_app(settings[0])) as first, serve_app(create_app(settings[1])) as second:
        async with (
            httpx.AsyncClient(base_url=first.url, timeout=60) as one,
            httpx.AsyncClient(base_url=second.url, timeout=60) as two,
        ):
            clients = [one, two]
            jobs = [
                clients[i % 2].post(
                    f"/subjects/{same_subjects[i % 2]}/versions", json={"schema": json.dumps(SAME)}
                )
                for i in range(20)
            ] + [
                clients[i % 2].post(
                    f"/subjects/{chain_subject}/versions", json={"schema": json.dumps(distinct(i))}
                )
                for i in range(30)
            ]
            answers = await asyncio.gather(*jobs)
            assert [a.status_code for a in answers] == [200] * 50, [a.text for a in answers]
            ids = [a.json()["id"] for a in answers]

            assert len(set(ids[:20])) == 1  # one schema, one id, in both subjects
            assert len(set(ids[20:])) == 30  # thirty schemas, thirty ids
            assert ids[0] not in ids[20:]
            for name in same_subjects:
                assert (await one.get(f"/subjects/{name}/versions")).json() == [1]
            assert (await two.get(f"/subjects/{chain_subject}/versions")).json() == list(
                range(1, 31)
            )
            by_version = {
                (await one.get(f"/subjects/{chain_subject}/versions/{v}")).json()["id"]
                for v in range(1, 31)
            }
            assert by_version == set(ids[20:])
            all_ids = sorted({*ids})
            assert all_ids == list(range(all_ids[0], all_ids[0] + 31))  # global ids, no gaps
