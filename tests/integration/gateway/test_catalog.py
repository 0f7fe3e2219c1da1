"""``/v1/catalog``: every agency searches it, NON_PUBLIC datasets stay hidden from all but their
owner (and admins), and an entry shows the contract, its versions and the topic's volume."""

from __future__ import annotations

from typing import Any

import pytest

from services.core.kafka.producer import create_producer
from tests.fixtures.catalog import Caller, Hub
from tests.integration.gateway.catalog_data import (
    contract,
    dataset_body,
    kafka,
    optional_field,
    problem,
    unique,
)
from tests.integration.gateway.test_subscriptions import PROVIDER, new_dataset, publish

WRITER = ("publish", "registry:write", "catalog:read")


async def make(hub: Hub, owner: Caller, **overrides: Any) -> str:
    body = dataset_body(owner.agency, **overrides)
    async with hub.http(owner) as http:
        created = await http.post("/v1/datasets", json=body)
    assert created.status_code == 201, created.text
    dataset: str = created.json()["id"]
    return dataset


async def search(hub: Hub, caller: Caller, **params: Any) -> dict[str, Any]:
    async with hub.http(caller) as http:
        response = await http.get("/v1/catalog", params=params)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def ids(page: dict[str, Any]) -> list[str]:
    return [item["id"] for item in page["items"]]


@pytest.fixture
async def owner(hub: Hub) -> Caller:
    return await hub.caller(*WRITER)


async def test_non_public_is_hidden_from_other_agencies(
    hub: Hub, owner: Caller, ops: Caller
) -> None:
    public = await make(hub, owner, access_rights="PUBLIC")
    restricted = await make(hub, owner, access_rights="RESTRICTED")
    hidden = await make(hub, owner, access_rights="NON_PUBLIC")
    stranger = await hub.caller("catalog:read")

    assert ids(await search(hub, owner, agency=owner.agency)) == sorted(
        [public, restricted, hidden]
    )
    assert ids(await search(hub, ops, agency=owner.agency)) == sorted([public, restricted, hidden])
    seen = await search(hub, stranger, agency=owner.agency)
    assert ids(seen) == sorted([public, restricted]) and seen["total"] == 2
    assert hidden not in ids(await search(hub, stranger, access_rights="NON_PUBLIC", page_size=100))

    async with hub.http(stranger) as http:
        for dataset in (public, restricted):
            assert (await http.get(f"/v1/catalog/{dataset}")).status_code == 200
        unknown = problem(
            await http.get(f"/v1/catalog/{owner.agency}.nosuch"), 404, "dataset_not_found"
        )
        invisible = problem(await http.get(f"/v1/catalog/{hidden}"), 404, "dataset_not_found")
    # the same answer as for a dataset that does not exist: its existence does not leak
    assert invisible["title"] == unknown["title"]
    assert invisible["detail"].replace(hidden, "X") == unknown["detail"].replace(
        f"{owner.agency}.nosuch", "X"
    )
    async with hub.http(ops) as http:
        assert (await http.get(f"/v1/catalog/{hidden}")).status_code == 200


async def test_search_filters_and_pages(hub: Hub, owner: Caller) -> None:
    word = unique("w")
    made = [
        await make(hub, owner, title=f"Đăng ký xe {word}", theme="transport"),
        await make(
            hub, owner, description=f"Hộ tịch {word}", theme="justice", access_rights="RESTRICTED"
        ),
        await make(hub, owner, keywords=[word], theme="transport"),
        await make(hub, owner, theme="transport"),
    ]
    reader = await hub.caller("catalog:read")
    everything = await search(hub, reader, agency=owner.agency)
    assert (everything["total"], everything["page"], everything["page_size"]) == (4, 1, 20)

    assert ids(await search(hub, reader, q=word)) == sorted(made[:3])
    assert ids(await search(hub, reader, q=f"dang ky {word.upper()}")) == [made[0]]
    assert ids(await search(hub, reader, q=made[3])) == [made[3]]  # the id matches too
    assert ids(await search(hub, reader, q=word, theme="Transport")) == sorted([made[0], made[2]])
    assert ids(await search(hub, reader, q=word, access_rights="RESTRICTED")) == [made[1]]
    assert (await search(hub, reader, q=f"{word} nothing-else"))["total"] == 0

    pages = [await search(hub, reader, agency=owner.agency, page_size=3, page=p) for p in (1, 2, 3)]
    assert [len(p["items"]) for p in pages] == [3, 1, 0]
    assert all(p["total"] == 4 for p in pages)
    assert [i for p in pages for i in ids(p)] == ids(everything)

    async with hub.http(reader) as http:
        for params in ({"page": 0}, {"page_size": 101}, {"access_rights": "OPEN"}, {"sort": "x"}):
            problem(await http.get("/v1/catalog", params=params), 422, "invalid_request")


async def test_entry_has_contract_versions_publisher_and_volume(
    hub: Hub, owner: Caller, kafka_bootstrap: str
) -> None:
    dataset = await make(hub, owner, partitions=3)
    async with hub.http(owner) as http:
        evolved = await http.put(
            f"/v1/datasets/{dataset}/contract",
            json={"schema": contract(owner.agency, optional_field())},
        )
        assert evolved.status_code == 200, evolved.text

    producer = create_producer(kafka(kafka_bootstrap))
    await producer.start()
    try:
        for i, partition in enumerate([0, 0, 0, 1, 1, 2, 0]):
            await producer.send_and_wait(f"{dataset}.v1", f"r{i}".encode(), partition=partition)
    finally:
        await producer.stop()

    reader = await hub.caller("catalog:read")
    async with hub.http(reader) as http:
        response = await http.get(f"/v1/catalog/{dataset}")
    assert response.status_code == 200, response.text
    entry = response.json()
    assert entry["publisher"] == {
        "id": owner.agency,
        "name": f"Test {owner.agency}",
        "kind": "other",
    }
    assert entry["topic"] == f"{dataset}.v1" and entry["versions"] == [1, 2]

    found = entry["contract"]
    assert (found["subject"], found["version"]) == (f"{dataset}.v1-value", 2)
    assert found["compatibility"] == "FULL_TRANSITIVE"
    assert found["namespace"] == f"vn.gov.{owner.agency}"
    fields = {f["path"]: f for f in found["fields"]}
    assert list(fields) == ["change_id", "full_name", "note"]
    assert fields["change_id"]["doc"] == "Identifier of the change."
    assert fields["full_name"]["pii"] == "basic"
    assert found["pii"] == {"full_name": "basic"}
    assert found["lint"]["findings"] == []

    metrics = entry["metrics"]
    assert metrics["records"] == 7
    assert [
        (p["partition"], p["beginning_offset"], p["end_offset"], p["records"])
        for p in metrics["partitions"]
    ] == [(0, 0, 4, 4), (1, 0, 2, 2), (2, 0, 1, 1)]


async def test_catalog_needs_catalog_read(hub: Hub, owner: Caller) -> None:
    dataset = await make(hub, owner)
    publisher = await hub.caller("publish", "registry:write", agency=owner.agency)
    admin_only = await hub.caller("admin")
    for caller in (publisher, admin_only):
        async with hub.http(caller) as http:
            problem(await http.get("/v1/catalog"), 403, "insufficient_scope")
            problem(await http.get(f"/v1/catalog/{dataset}"), 403, "insufficient_scope")
    async with hub.http() as http:
        assert (await http.get("/v1/catalog")).status_code == 401


async def test_volume_counts_events_not_transaction_markers(hub: Hub) -> None:
    provider = await hub.caller(*PROVIDER)
    dataset = await new_dataset(hub, provider, partitions=1)
    for seq in range(4):  # four publishes of one event: a transaction, and its marker, each
        await publish(hub, provider, dataset, 1, first=seq)

    reader = await hub.caller("catalog:read")
    async with hub.http(reader) as http:
        entry = (await http.get(f"/v1/catalog/{dataset}")).json()

    assert entry["metrics"] == {
        "records": 4,
        "records_exact": True,
        "partitions": [
            {
                "partition": 0,
                "beginning_offset": 0,
                "end_offset": 8,
                "records": 4,
                "records_exact": True,
            }
        ],
    }
