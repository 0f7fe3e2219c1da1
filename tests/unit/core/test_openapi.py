"""The OpenAPI error documentation on a small app: what routes, dependencies, middleware and
validation declare ends up on each operation, per status, in the service's format."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query
from pydantic import BaseModel

from services.core.errors import Conflict, Forbidden, NotFound
from services.core.http.errors import ErrorKind, confluent_json, problem_json
from services.core.http.openapi import OAUTH2, document_errors, raises, raising


class ThingMissing(NotFound):
    code, error_code = "thing_missing", 40499


class ThingExists(Conflict):
    code = "thing_exists"


@raising(Forbidden)
async def guarded() -> str:
    return "ok"


class Gate:
    @staticmethod
    def documented_errors(method: str, path: str) -> tuple[ErrorKind, ...]:
        return (ErrorKind(429, "rate_limited", "Too many"),) if method == "POST" else ()


class Body(BaseModel):
    name: str


def build(render: Any = problem_json) -> dict[str, Any]:
    app = FastAPI()
    router = APIRouter(prefix="/things")

    @router.get("/{thing}", responses=raises(ThingMissing, NotFound))
    async def read(thing: str, _: Annotated[str, Depends(guarded)]) -> dict[str, str]:
        return {}

    @router.post("", responses=raises(ThingExists))
    async def create(body: Body) -> dict[str, str]:
        return {}

    @router.get("")
    async def search(page: Annotated[int, Query(ge=1)] = 1, q: str | None = None) -> list[str]:
        return []

    @router.post("/token", responses=raises(ErrorKind(400, "invalid_grant", "x"), wire=OAUTH2))
    async def token() -> dict[str, str]:
        return {}

    app.include_router(router)
    document_errors(app, render, [Gate])
    document: dict[str, Any] = app.openapi()
    return document


def codes(response: dict[str, Any], field: str = "code") -> list[Any]:
    (content,) = response["content"].values()
    enum: list[Any] = content["schema"]["properties"][field]["enum"]
    return enum


def test_each_status_lists_the_codes_of_its_route_dependencies_and_middleware() -> None:
    document = build()
    read = document["paths"]["/things/{thing}"]["get"]["responses"]
    assert codes(read["404"]) == ["not_found", "thing_missing"]
    assert codes(read["403"]) == ["forbidden"]  # from the dependency
    assert codes(read["500"]) == ["internal_error"]
    assert "422" not in read  # a string in the path cannot fail validation
    assert "429" not in read  # the gate answers POSTs only
    assert list(read["404"]["content"]) == ["application/problem+json"]
    assert read["404"]["content"]["application/problem+json"]["schema"]["allOf"] == [
        {"$ref": "#/components/schemas/Problem"}
    ]

    create = document["paths"]["/things"]["post"]["responses"]
    assert codes(create["400"]) == ["invalid_json", "json_number_out_of_range", "json_too_deep"]
    assert codes(create["422"]) == ["invalid_request"]
    assert codes(create["409"]) == ["thing_exists"]
    assert codes(create["429"]) == ["rate_limited"]

    search = document["paths"]["/things"]["get"]["responses"]
    assert codes(search["422"]) == ["invalid_request"]  # page must be >= 1
    assert "HTTPValidationError" not in str(document)
    assert set(document["components"]["schemas"]) >= {"Problem", "OAuth2Error"}


def test_a_route_may_answer_in_its_own_format() -> None:
    token = build()["paths"]["/things/token"]["post"]["responses"]
    assert codes(token["400"], "error") == ["invalid_grant"]
    assert list(token["400"]["content"]) == ["application/json"]
    assert list(token["500"]["content"]) == ["application/problem+json"]


def test_confluent_services_document_error_codes() -> None:
    read = build(confluent_json)["paths"]["/things/{thing}"]["get"]["responses"]
    assert codes(read["404"], "error_code") == [404, 40499]
    assert codes(read["500"], "error_code") == [50001]
    assert list(read["404"]["content"]) == ["application/vnd.schemaregistry.v1+json"]
