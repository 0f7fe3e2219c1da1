"""Each service's OpenAPI document, served by the real app: every operation documents the errors
it can answer in the format the service really renders, and real errors match what is documented.

Served without a token (``/openapi.json``, ``/docs`` and the page's assets) even where every other
path needs one; the Swagger UI page loads nothing from outside the service.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_spec
from pydantic import SecretStr

from services.connectors.app import create_app as create_connect
from services.core.config import AuthSettings, DatabaseSettings
from services.core.errors import NdxpError
from services.core.http.errors import INTERNAL_ERROR, INVALID_JSON, INVALID_REQUEST, confluent_code
from services.gateway import route_errors
from tests.fixtures.catalog import Caller, Hub
from tests.fixtures.gateway import bearer
from tests.fixtures.servers import serve_app
from tests.integration.connect.conftest import connect_settings
from tests.integration.gateway.catalog_data import dataset_body
from tests.integration.gateway.test_publish import reading_contract

Document = dict[str, Any]
PROBLEM = "application/problem+json"
CONFLUENT = "application/vnd.schemaregistry.v1+json"
DOCS_ASSETS = {
    "/docs/swagger-ui-bundle.js": "text/javascript",
    "/docs/swagger-ui.css": "text/css",
    "/docs/favicon.png": "image/png",
}
# /readyz's 503 is its readiness report, not an error body
REPORTS = {("/readyz", "get", "503")}


def _classes(cls: type[NdxpError]) -> Iterator[type[NdxpError]]:
    yield cls
    for sub in cls.__subclasses__():
        yield from _classes(sub)


def known_codes() -> set[str]:
    """Every code the code base can answer with (the apps are imported: all classes exist)."""
    kinds = [
        INTERNAL_ERROR,
        INVALID_JSON,
        INVALID_REQUEST,
        *route_errors.TOKEN,
        *route_errors.REVOKE,
    ]
    return {cls.code for cls in _classes(NdxpError)} | {kind.code for kind in kinds}


def known_confluent_codes() -> set[int]:
    kinds = [INTERNAL_ERROR, INVALID_JSON, INVALID_REQUEST]
    return {confluent_code(c.status, c.error_code) for c in _classes(NdxpError)} | {
        confluent_code(kind.status, kind.error_code) for kind in kinds
    }


def operations(document: Document) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def check_document(document: Document, media_type: str) -> None:
    """Valid OpenAPI; every operation documents its errors in the service's format (OAuth2's on
    the OAuth2 endpoints), with codes the code can emit; FastAPI's default 422 nowhere."""
    validate_spec(document)
    assert "HTTPValidationError" not in json.dumps(document)
    schemas = document["components"]["schemas"]
    known, numbers = known_codes(), known_confluent_codes()
    for path, method, operation in operations(document):
        responses = operation["responses"]
        assert "500" in responses, (path, method)
        for status, response in responses.items():
            if int(status) < 400 or (path, method, status) in REPORTS:
                continue
            oauth = path.startswith("/oauth2/") and int(status) < 500
            expected = "application/json" if oauth else media_type
            assert list(response["content"]) == [expected], (path, method, status)
            schema = response["content"][expected]["schema"]
            name = schema["allOf"][0]["$ref"].rsplit("/", 1)[1]
            assert name in schemas, (path, method, status)
            (field, pinned), *_ = (
                (key, value["enum"])
                for key, value in schema["properties"].items()
                if "enum" in value
            )
            assert pinned, (path, method, status)
            assert set(pinned) <= (numbers if field == "error_code" else known), pinned
        if "401" in responses:
            assert operation["security"], (path, method)


def check_error(document: Document, path: str, method: str, response: httpx.Response) -> Any:
    """The body of a real error validates against the schema the document declares for this
    operation, status and media type; returns the body."""
    declared = document["paths"][path][method]["responses"]
    assert str(response.status_code) in declared, (path, method, response.status_code)
    media_type = response.headers["content-type"].split(";")[0]
    schema = declared[str(response.status_code)]["content"][media_type]["schema"]
    body = response.json()
    Draft202012Validator({**schema, "components": document["components"]}).validate(body)
    return body


def client(url: str, caller: Caller | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=url, timeout=30, headers=bearer(caller.token) if caller else {}
    )


async def check_docs_page(http: httpx.AsyncClient) -> Document:
    """``/docs`` and everything it loads, answered without a token; the document itself."""
    page = await http.get("/docs")
    assert page.status_code == 200, page.text
    assert "/openapi.json" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing from elsewhere
    for asset, media_type in DOCS_ASSETS.items():
        assert asset in page.text
        loaded = await http.get(asset)
        assert loaded.status_code == 200, asset
        assert loaded.headers["content-type"].startswith(media_type)
        assert len(loaded.content) > 1000 or asset.endswith(".png")
    assert (await http.get("/docs/oauth2-redirect")).status_code == 200
    document = await http.get("/openapi.json")
    assert document.status_code == 200
    result: Document = document.json()
    return result


# --- gateway ------------------------------------------------------------------------------------


async def test_gateway_documents_and_answers_its_errors(hub: Hub) -> None:
    async with hub.http() as anonymous:
        document = await check_docs_page(anonymous)
        check_document(document, PROBLEM)
        # FastAPI's CDN page is gone, and so is ReDoc (it would load from a CDN too)
        assert (await anonymous.get("/redoc")).status_code == 404

        body = check_error(document, "/v1/catalog", "get", await anonymous.get("/v1/catalog"))
        assert (body["status"], body["code"]) == (401, "unauthorized")
        assert body["instance"].startswith("urn:ndxp:request:")

        refused = await anonymous.post(
            "/oauth2/token", data={"grant_type": "client_credentials"}, auth=("nobody", "wrong")
        )
        assert check_error(document, "/oauth2/token", "post", refused)["error"] == "invalid_client"

    owner = await hub.caller("publish", "registry:write", "catalog:read")
    no_scope = await hub.caller("subscribe")
    async with hub.http(owner) as http:
        created = await http.post(
            "/v1/datasets", json=dataset_body(owner.agency, schema=reading_contract(owner.agency))
        )
        assert created.status_code == 201, created.text
        dataset = created.json()["id"]

        path = "/v1/catalog/{dataset}"
        missing = await http.get(f"/v1/catalog/{owner.agency}.nothing-here")
        assert check_error(document, path, "get", missing)["code"] == "dataset_not_found"

        bad = await http.post(f"/v1/datasets/{dataset}/events", json=[{"station": 1}])
        body = check_error(document, "/v1/datasets/{dataset}/events", "post", bad)
        assert (body["status"], body["code"]) == (422, "validation_failed")
        assert body["errors"][0]["index"] == 0

        invalid = await http.get("/v1/audit", params={"limit": 0})
        assert check_error(document, "/v1/audit", "get", invalid)["code"] == "invalid_request"

        broken = await http.post(
            "/v1/agreements", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert check_error(document, "/v1/agreements", "post", broken)["code"] == "invalid_json"

    async with hub.http(no_scope) as http:
        forbidden = await http.get(f"/v1/catalog/{dataset}")
        assert check_error(document, path, "get", forbidden)["code"] == "insufficient_scope"
        gone = await http.get(f"/v1/subscriptions/{uuid.uuid4()}")
        body = check_error(document, "/v1/subscriptions/{subscription_id}", "get", gone)
        assert body["code"] == "subscription_not_found"


# --- registry -----------------------------------------------------------------------------------


async def test_registry_documents_and_answers_its_errors(hub: Hub) -> None:
    async with client(hub.registry_url) as anonymous:
        document = await check_docs_page(anonymous)  # open although the registry needs tokens
        check_document(document, CONFLUENT)
        refused = await anonymous.get("/subjects")
        assert check_error(document, "/subjects", "get", refused)["error_code"] == 401
        # only the documentation is open, not anything under /docs
        assert (await anonymous.get("/docs/../subjects")).status_code in (401, 404)
        assert (await anonymous.get("/docs/index.html")).status_code == 401

    writer = await hub.caller("registry:write")
    subject = f"shared-{uuid.uuid4().hex[:10]}-value"
    async with hub.registry(writer) as http:
        missing = await http.get(f"/subjects/{subject}/versions")
        path = "/subjects/{subject}/versions"
        assert check_error(document, path, "get", missing)["error_code"] == 40401

        invalid = await http.post(path.format(subject=subject), json={"schema": "{not avro"})
        assert check_error(document, path, "post", invalid)["error_code"] == 42201

        unknown = await http.get("/schemas/ids/2147483000")
        assert check_error(document, "/schemas/ids/{schema_id}", "get", unknown)["error_code"] == (
            40403
        )
        flag = await http.get("/subjects", params={"deleted": "perhaps"})
        assert check_error(document, "/subjects", "get", flag)["error_code"] == 422

        not_admin = await http.put("/config", json={"compatibility": "NONE"})
        assert check_error(document, "/config", "put", not_admin)["error_code"] == 403


# --- connect ------------------------------------------------------------------------------------


@pytest.fixture
async def protected_connect(hub: Hub, tmp_path: Path, kafka_bootstrap: str) -> AsyncIterator[str]:
    """A connect worker requiring tokens from the hub's gateway, on its control plane."""
    settings = connect_settings(
        tmp_path,
        kafka_bootstrap,
        hub.registry_url,
        uuid.uuid4().hex[:12],
        auth=AuthSettings(issuer=hub.gateway.issuer, require_tokens=True),
        database=DatabaseSettings(url=SecretStr(hub.gateway.settings.database_url)),
    )
    with serve_app(create_connect(settings)) as server:
        yield server.url


async def test_connect_documents_and_answers_its_errors(hub: Hub, protected_connect: str) -> None:
    async with client(protected_connect) as anonymous:
        document = await check_docs_page(anonymous)
        check_document(document, PROBLEM)
        refused = await anonymous.get("/connectors")
        assert check_error(document, "/connectors", "get", refused)["code"] == "unauthorized"

    admin, reader = await hub.caller("admin"), await hub.caller("catalog:read")
    async with client(protected_connect, admin) as http:
        missing = await http.get("/connectors/nothing-here/status")
        body = check_error(document, "/connectors/{name}/status", "get", missing)
        assert body["code"] == "connector_not_found"

        bad = {"connector.class": "sql-source", "dataset": "nope", "tabel": "x"}
        invalid = await http.post("/connectors", json={"name": "bad-one", "config": bad})
        assert check_error(document, "/connectors", "post", invalid)["code"] == (
            "invalid_connector_config"
        )
        shapeless = await http.post("/connectors", json={"name": "no-config"})
        assert check_error(document, "/connectors", "post", shapeless)["code"] == "invalid_request"

        path = "/connector-plugins/{plugin}/config/validate"
        unknown = await http.put("/connector-plugins/nope/config/validate", json={})
        assert check_error(document, path, "put", unknown)["code"] == "plugin_not_found"

    async with client(protected_connect, reader) as http:
        forbidden = await http.delete("/connectors/anything")
        body = check_error(document, "/connectors/{name}", "delete", forbidden)
        assert body["code"] == "insufficient_scope"
