"""A registry that requires tokens, verifying them with the JWKS of a running gateway."""

from __future__ import annotations

import json
import uuid

import httpx

from tests.fixtures.gateway import Gateway, bearer
from tests.fixtures.registry import V1

SCHEMA = json.dumps({"type": "record", "name": "R", "fields": [{"name": "a", "type": "string"}]})


def subject() -> str:
    return f"auth-{uuid.uuid4().hex[:12]}-value"


async def test_without_a_token_only_probes_are_answered(protected_registry: str) -> None:
    async with httpx.AsyncClient(base_url=protected_registry) as http:
        for path in ("/", "/healthz"):
            assert (await http.get(path)).status_code == 200, path
        metrics = await http.get("/metrics")  # its series name datasets: a scraper's token only
        assert metrics.status_code == 401
        assert metrics.json()["error_code"] == 401
        for method, path in (("GET", "/subjects"), ("GET", "/schemas/ids/1"),
                             ("GET", "/config"), ("POST", f"/subjects/{subject()}/versions"),
                             ("DELETE", f"/subjects/{subject()}")):  # fmt: skip
            response = await http.request(method, path, headers={"Content-Type": V1})
            assert response.status_code == 401, path
            assert response.headers["www-authenticate"] == 'Bearer realm="ndxp"'
            assert response.json()["error_code"] == 401  # Confluent's error body
            assert response.headers["content-type"] == V1


async def test_reads_need_any_token_and_writes_need_registry_write(
    gateway_server: Gateway, protected_registry: str
) -> None:
    reader_id, reader_secret = await gateway_server.create_client(scopes=("catalog:read",))
    writer_id, writer_secret = await gateway_server.create_client(scopes=("registry:write",))
    reader = bearer(await gateway_server.token(reader_id, reader_secret))
    writer = bearer(await gateway_server.token(writer_id, writer_secret))
    name = subject()
    body = {"schema": SCHEMA}
    async with httpx.AsyncClient(base_url=protected_registry, headers={"Content-Type": V1}) as http:
        refused = await http.post(f"/subjects/{name}/versions", json=body, headers=reader)
        assert refused.status_code == 403
        assert refused.headers["www-authenticate"].startswith(
            'Bearer realm="ndxp", error="insufficient_scope"'
        )
        assert 'scope="registry:write"' in refused.headers["www-authenticate"]
        assert (await http.get(f"/subjects/{name}/versions", headers=reader)).status_code == 404

        registered = await http.post(f"/subjects/{name}/versions", json=body, headers=writer)
        assert registered.status_code == 200, registered.text
        schema_id = registered.json()["id"]

        # reads, including the POSTs that only ask questions, with the reader's token
        for response in (
            await http.get(f"/subjects/{name}/versions", headers=reader),
            await http.get(f"/schemas/ids/{schema_id}", headers=reader),
            await http.post(f"/subjects/{name}", json=body, headers=reader),
            await http.post(f"/compatibility/subjects/{name}/versions/latest", json=body,
                            headers=reader),
        ):  # fmt: skip
            assert response.status_code == 200, response.text
        # the cached fast path of GET /schemas/ids/{id} is behind the door too
        assert (await http.get(f"/schemas/ids/{schema_id}")).status_code == 401

        for method, path in (("PUT", f"/config/{name}"), ("DELETE", f"/subjects/{name}")):
            response = await http.request(
                method, path, json={"compatibility": "NONE"}, headers=reader
            )
            assert response.status_code == 403, path
        assert (await http.get(f"/subjects/{name}/versions", headers=reader)).json() == [1]


async def test_confluent_basic_credentials_work_like_the_clients_token(
    gateway_server: Gateway, protected_registry: str
) -> None:
    writer_id, writer_secret = await gateway_server.create_client(scopes=("registry:write",))
    name = subject()
    async with httpx.AsyncClient(base_url=protected_registry, headers={"Content-Type": V1}) as http:
        registered = await http.post(
            f"/subjects/{name}/versions", json={"schema": SCHEMA}, auth=(writer_id, writer_secret)
        )
        assert registered.status_code == 200, registered.text
        wrong = await http.get("/subjects", auth=(writer_id, "wrong"))
        assert wrong.status_code == 401
        assert 'error_description="invalid client credentials"' in wrong.headers["www-authenticate"]
