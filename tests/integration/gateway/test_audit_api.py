"""``GET /v1/audit`` through the gateway: every token issued is on the record, each agency sees
its own records and an admin sees everyone's."""

from __future__ import annotations

from tests.fixtures.catalog import Hub
from tests.integration.gateway.catalog_data import contract, dataset_body, optional_field


async def test_token_issues_are_audited_and_visible_to_their_agency_only(hub: Hub) -> None:
    mine = await hub.caller("catalog:read")
    other = await hub.caller("catalog:read")
    admin = await hub.caller("admin", agency=mine.agency)

    async with hub.http(mine) as http:
        answer = await http.get("/v1/audit", params={"action": "token.issue", "limit": 1000})
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert {item["actor_client"] for item in items} >= {mine.client_id}
    assert all(item["actor_agency"] == mine.agency for item in items)
    issued = next(i for i in items if i["actor_client"] == mine.client_id)
    assert issued["details"]["scope"] == "catalog:read"
    assert len(issued["hash"]) == len(issued["prev_hash"]) == 64

    async with hub.http(other) as http:
        theirs = (await http.get("/v1/audit", params={"limit": 1000})).json()["items"]
    assert mine.client_id not in {item["actor_client"] for item in theirs}

    async with hub.http(admin) as http:
        everything = (
            await http.get("/v1/audit", params={"action": "token.issue", "limit": 1000})
        ).json()["items"]
    assert {mine.client_id, other.client_id} <= {item["actor_client"] for item in everything}


async def test_paging_and_filters(hub: Hub) -> None:
    caller = await hub.caller("catalog:read")
    for _ in range(3):
        await hub.gateway.token(caller.client_id, caller.secret)
    async with hub.http(caller) as http:
        first = (await http.get("/v1/audit", params={"role": "actor", "limit": 2})).json()
        assert len(first["items"]) == 2
        rest = (
            await http.get("/v1/audit", params={"role": "actor", "after": first["next_after"]})
        ).json()
        seqs = [i["seq"] for i in first["items"] + rest["items"]]
        assert seqs == sorted(seqs)
        assert len(seqs) == 4  # the token of hub.caller and three more
        none = await http.get("/v1/audit", params={"action": "publish", "role": "actor"})
        assert none.json()["items"] == []
        bad = await http.get("/v1/audit", params={"limit": 0})
        assert bad.status_code == 422
    async with hub.http() as anonymous:
        assert (await anonymous.get("/v1/audit")).status_code == 401


async def test_dataset_creation_and_contract_evolution_are_audited(hub: Hub) -> None:
    owner = await hub.caller("publish", "registry:write", "catalog:read")
    body = dataset_body(owner.agency)
    async with hub.http(owner) as http:
        created = await http.post("/v1/datasets", json=body)
        assert created.status_code == 201, created.text
        dataset_id = created.json()["id"]
        evolved = await http.put(
            f"/v1/datasets/{dataset_id}/contract",
            json={"schema": contract(owner.agency, optional_field())},
        )
        assert evolved.status_code == 200, evolved.text
        records = (await http.get("/v1/audit", params={"dataset": dataset_id})).json()["items"]
    assert [r["action"] for r in records] == ["dataset.create", "contract.evolve"]
    assert all(r["provider_agency"] == owner.agency for r in records)
    assert records[0]["details"]["version"] == 1
    assert records[1]["details"]["version"] == 2
