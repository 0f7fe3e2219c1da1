"""``/v1/admin/agencies`` over HTTP: an admin registers, lists, disables and enables agencies."""

from __future__ import annotations

import uuid

from tests.fixtures.catalog import Caller, Hub
from tests.integration.gateway.catalog_data import problem


def new_id() -> str:
    return f"a{uuid.uuid4().hex[:12]}"


async def test_create_get_list(hub: Hub, ops: Caller) -> None:
    agency, code = new_id(), f"G{uuid.uuid4().hex[:8]}.01"
    async with hub.http(ops) as http:
        created = await http.post(
            "/v1/admin/agencies",
            json={"id": agency, "name": "Sở Tư pháp Hà Nội", "kind": "province", "code": code},
        )
        assert created.status_code == 201, created.text
        body = created.json()
        assert body | {"created_at": "-"} == {
            "id": agency,
            "name": "Sở Tư pháp Hà Nội",
            "kind": "province",
            "code": code,
            "enabled": True,
            "created_at": "-",
        }
        assert (await http.get(f"/v1/admin/agencies/{agency}")).json() == body
        listed = (await http.get("/v1/admin/agencies")).json()["items"]
        assert body in listed


async def test_duplicates_conflict(hub: Hub, ops: Caller) -> None:
    agency, code = new_id(), f"C{uuid.uuid4().hex[:8]}"
    async with hub.http(ops) as http:
        first = {"id": agency, "name": "First", "kind": "ministry", "code": code}
        assert (await http.post("/v1/admin/agencies", json=first)).status_code == 201
        again = await http.post("/v1/admin/agencies", json=first | {"code": None})
        problem(again, 409, "agency_exists")
        same_code = await http.post("/v1/admin/agencies", json=first | {"id": new_id()})
        assert code in problem(same_code, 409, "agency_exists")["detail"]


async def test_invalid_bodies_are_422_with_field_errors(hub: Hub, ops: Caller) -> None:
    async with hub.http(ops) as http:
        for body, field in [
            ({"id": "Bad Id", "name": "x", "kind": "ministry"}, "id"),
            ({"id": "ndxp", "name": "x", "kind": "ministry"}, "id"),
            ({"id": new_id(), "name": "x", "kind": "company"}, "kind"),
            ({"id": new_id(), "name": "", "kind": "other"}, "name"),
            ({"id": new_id(), "name": "x", "kind": "other", "code": "x" * 36}, "code"),
            ({"id": new_id(), "kind": "other"}, "name"),
        ]:
            answer = problem(
                await http.post("/v1/admin/agencies", json=body), 422, "invalid_request"
            )
            assert ["body", field] in [error["loc"] for error in answer["errors"]], answer


async def test_unknown_agency_is_404(hub: Hub, ops: Caller) -> None:
    async with hub.http(ops) as http:
        for response in (
            await http.get("/v1/admin/agencies/nosuchagency"),
            await http.post("/v1/admin/agencies/nosuchagency/disable"),
            await http.get("/v1/admin/agencies/nosuchagency/clients"),
        ):
            problem(response, 404, "agency_not_found")


async def test_disabling_an_agency_stops_its_clients_and_enabling_restores_them(
    hub: Hub, ops: Caller
) -> None:
    member = await hub.caller("catalog:read")
    async with hub.http(ops) as http:
        disabled = await http.post(f"/v1/admin/agencies/{member.agency}/disable")
        assert disabled.status_code == 200 and disabled.json()["enabled"] is False
    refused = await hub.gateway.token_response(member.client_id, member.secret)
    assert refused.status_code in (400, 401), refused.text
    async with hub.http(member) as http:
        assert (await http.get("/v1/catalog")).status_code == 401

    async with hub.http(ops) as http:
        enabled = await http.post(f"/v1/admin/agencies/{member.agency}/enable")
        assert enabled.json()["enabled"] is True
    assert (await hub.gateway.token_response(member.client_id, member.secret)).status_code == 200


async def test_only_admins(hub: Hub) -> None:
    member = await hub.caller("catalog:read", "publish", "registry:write")
    async with hub.http(member) as http:
        problem(await http.get("/v1/admin/agencies"), 403, "insufficient_scope")
        body = {"id": new_id(), "name": "x", "kind": "other"}
        problem(await http.post("/v1/admin/agencies", json=body), 403, "insufficient_scope")
        problem(
            await http.post(f"/v1/admin/agencies/{member.agency}/disable"),
            403,
            "insufficient_scope",
        )
    async with hub.http() as http:
        assert (await http.get("/v1/admin/agencies")).status_code == 401
