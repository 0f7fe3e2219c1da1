"""``/v1/datasets`` over HTTP against real Kafka and a real, token-requiring registry: a dataset is
its topic, its subject and its catalogue row, all made or none."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.core.kafka.admin import TopicSpec, ensure_topic
from services.core.local_kafka import free_port
from tests.fixtures.catalog import Caller, Hub
from tests.fixtures.gateway import Gateway, bearer, gateway_settings, serve_gateway
from tests.integration.gateway.catalog_data import (
    DAY_MS,
    contract,
    dataset_body,
    kafka,
    optional_field,
    problem,
    required_field,
    subject_absent,
    topic,
    unique,
    wait_topic_gone,
)

WRITER = ("publish", "registry:write", "catalog:read")


@pytest.fixture
async def owner(hub: Hub) -> Caller:
    return await hub.caller(*WRITER)


async def create(hub: Hub, caller: Caller, body: dict[str, Any]) -> Any:
    async with hub.http(caller) as http:
        return await http.post("/v1/datasets", json=body)


async def assert_nothing_made(
    hub: Hub, bootstrap: str, reader: Caller, agency: str, name: str
) -> None:
    """No topic, no subject (nor its config), no catalogue entry."""
    assert await topic(bootstrap, f"{agency}.{name}.v1") is None
    async with hub.registry(reader) as registry:
        assert await subject_absent(registry, f"{agency}.{name}.v1-value")
    async with hub.http(reader) as http:
        problem(await http.get(f"/v1/catalog/{agency}.{name}"), 404, "dataset_not_found")


async def test_creation_makes_topic_subject_and_row(
    hub: Hub, owner: Caller, kafka_bootstrap: str
) -> None:
    body = dataset_body(owner.agency)
    name = body["name"]
    created = await create(hub, owner, body)
    assert created.status_code == 201, created.text
    doc = created.json()
    assert created.headers["location"] == f"/v1/catalog/{owner.agency}.{name}"
    topic_name, subject = f"{owner.agency}.{name}.v1", f"{owner.agency}.{name}.v1-value"
    assert doc["id"] == f"{owner.agency}.{name}" and doc["agency"] == owner.agency
    assert (doc["topic"], doc["subject"]) == (topic_name, subject)
    assert (doc["retention"], doc["retention_ms"]) == ("P30D", 30 * DAY_MS)
    assert doc["contract"] == {
        "subject": subject,
        "id": doc["contract"]["id"],
        "version": 1,
        "warnings": [],
    }
    for key in (
        "title",
        "description",
        "theme",
        "keywords",
        "access_rights",
        "licence",
        "contact_point",
        "update_frequency",
        "partitions",
        "compatibility",
    ):
        assert doc[key] == body[key], key

    described = await topic(kafka_bootstrap, topic_name)
    assert described is not None
    assert described.partitions == 4
    assert described.retention_ms == 30 * DAY_MS
    assert described.replication_factor == hub.gateway.settings.kafka.replication_factor

    async with hub.registry(owner) as registry:
        config = (await registry.get(f"/config/{subject}")).json()
        assert config["compatibilityLevel"] == "FULL_TRANSITIVE"
        assert (await registry.get(f"/subjects/{subject}/versions")).json() == [1]
        latest = (await registry.get(f"/subjects/{subject}/versions/latest")).json()
        assert json.loads(latest["schema"]) == body["schema"]

    async with hub.http(owner) as http:
        entry = (await http.get(f"/v1/catalog/{owner.agency}.{name}")).json()
    assert {k: entry[k] for k in doc if k != "contract"} == {
        k: v for k, v in doc.items() if k != "contract"
    }


async def test_retention_in_milliseconds_and_defaults(
    hub: Hub, owner: Caller, kafka_bootstrap: str
) -> None:
    body = dataset_body(
        owner.agency, retention=3 * 3_600_000, schema=json.dumps(contract(owner.agency))
    )
    for key in ("partitions", "compatibility"):
        del body[key]
    created = await create(hub, owner, body)
    assert created.status_code == 201, created.text
    assert created.json()["retention"] == "PT3H"
    assert created.json()["compatibility"] == "BACKWARD_TRANSITIVE"
    described = await topic(kafka_bootstrap, created.json()["topic"])
    assert described is not None
    assert (described.partitions, described.retention_ms) == (3, 3 * 3_600_000)


async def test_invalid_schema_makes_nothing(hub: Hub, owner: Caller, kafka_bootstrap: str) -> None:
    name = unique()
    broken = contract(owner.agency, {"name": "kind", "type": "nonsense", "doc": "?"})
    answer = problem(
        await create(hub, owner, dataset_body(owner.agency, name, schema=broken)),
        422,
        "invalid_contract",
    )
    assert "nonsense" in answer["detail"]  # the registry's own words
    await assert_nothing_made(hub, kafka_bootstrap, owner, owner.agency, name)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"schema": {"type": "string"}}, "schema"),
        ({"partitions": 65}, "partitions"),
        ({"retention": "P1M"}, "retention"),
        ({"access_rights": "SECRET"}, "access_rights"),
        ({"contact_point": {"name": "x", "email": "nobody"}}, "contact_point"),
        ({"name": "Not_A_Name"}, "name"),
        ({"compatibility": "SIDEWAYS"}, "compatibility"),
    ],
)
async def test_invalid_metadata_is_422_with_field_errors_and_makes_nothing(
    hub: Hub, owner: Caller, kafka_bootstrap: str, overrides: dict[str, Any], field: str
) -> None:
    body = dataset_body(owner.agency, **overrides)
    answer = problem(await create(hub, owner, body), 422, "invalid_request")
    assert field in [error["loc"][1] for error in answer["errors"]], answer
    if field != "name":
        await assert_nothing_made(hub, kafka_bootstrap, owner, owner.agency, body["name"])


async def test_duplicate_is_409(hub: Hub, owner: Caller) -> None:
    body = dataset_body(owner.agency)
    assert (await create(hub, owner, body)).status_code == 201
    problem(await create(hub, owner, body), 409, "dataset_exists")


async def test_scopes(hub: Hub, kafka_bootstrap: str) -> None:
    reader = await hub.caller("catalog:read")
    body = dataset_body(reader.agency)
    problem(await create(hub, reader, body), 403, "insufficient_scope")
    # the contract is registered with the caller's token: the registry wants registry:write
    publisher = await hub.caller("publish", "catalog:read", agency=reader.agency)
    answer = problem(await create(hub, publisher, body), 403, "insufficient_scope")
    assert "registry:write" in answer["detail"]
    await assert_nothing_made(hub, kafka_bootstrap, reader, reader.agency, body["name"])


async def test_no_agency_creates_in_another_agencys_name(
    hub: Hub, owner: Caller, ops: Caller, kafka_bootstrap: str
) -> None:
    other = await hub.gateway.create_agency()
    body = dataset_body(other, schema=contract(other))
    answer = problem(await create(hub, owner, body | {"agency": other}), 403, "forbidden")
    assert other in answer["detail"]
    await assert_nothing_made(hub, kafka_bootstrap, ops, other, body["name"])

    by_admin = await create(hub, ops, body | {"agency": other})  # an admin may
    assert by_admin.status_code == 201, by_admin.text
    assert by_admin.json()["agency"] == other
    problem(
        await create(hub, ops, dataset_body("nosuchagency", agency="nosuchagency")),
        404,
        "agency_not_found",
    )


async def test_evolve_the_contract(hub: Hub, owner: Caller) -> None:
    body = dataset_body(owner.agency)
    dataset = f"{owner.agency}.{body['name']}"
    assert (await create(hub, owner, body)).status_code == 201
    async with hub.http(owner) as http:
        url = f"/v1/datasets/{dataset}/contract"
        evolved = await http.put(url, json={"schema": contract(owner.agency, optional_field())})
        assert evolved.status_code == 200, evolved.text
        assert evolved.json()["version"] == 2 and evolved.json()["dataset"] == dataset

        breaking = contract(owner.agency, optional_field(), required_field())
        answer = problem(
            await http.put(url, json={"schema": breaking}), 409, "incompatible_contract"
        )
        assert "ward_code" in answer["detail"]
        problem(await http.put(url, json={"schema": {"type": "int"}}), 422, "invalid_request")

        entry = (await http.get(f"/v1/catalog/{dataset}")).json()
        assert entry["versions"] == [1, 2]
        assert [f["path"] for f in entry["contract"]["fields"]][-1] == "note"


async def test_another_agency_cannot_evolve_or_edit(hub: Hub, owner: Caller) -> None:
    public, hidden = (
        dataset_body(owner.agency),
        dataset_body(owner.agency, access_rights="NON_PUBLIC"),
    )
    for body in (public, hidden):
        assert (await create(hub, owner, body)).status_code == 201
    intruder = await hub.caller(*WRITER)
    new_contract = {"schema": contract(owner.agency, optional_field())}
    async with hub.http(intruder) as http:
        url = f"/v1/datasets/{owner.agency}.{public['name']}"
        problem(await http.put(f"{url}/contract", json=new_contract), 403, "forbidden")
        problem(await http.patch(url, json={"title": "Mine now"}), 403, "forbidden")
        url = f"/v1/datasets/{owner.agency}.{hidden['name']}"  # NON_PUBLIC: not even seen
        problem(await http.put(f"{url}/contract", json=new_contract), 404, "dataset_not_found")
        problem(await http.patch(url, json={"title": "Mine now"}), 404, "dataset_not_found")
    async with hub.registry(owner) as registry:
        subject = f"{owner.agency}.{public['name']}.v1-value"
        assert (await registry.get(f"/subjects/{subject}/versions")).json() == [1]
    async with hub.http(owner) as http:
        entry = (await http.get(f"/v1/catalog/{owner.agency}.{public['name']}")).json()
        assert entry["title"] == public["title"]
    # a token with publish only may not evolve even its own contract
    publisher = await hub.caller("publish", agency=owner.agency)
    async with hub.http(publisher) as http:
        url = f"/v1/datasets/{owner.agency}.{public['name']}/contract"
        problem(await http.put(url, json=new_contract), 403, "insufficient_scope")


async def test_patch_metadata(hub: Hub, owner: Caller) -> None:
    body = dataset_body(owner.agency)
    assert (await create(hub, owner, body)).status_code == 201
    url = f"/v1/datasets/{owner.agency}.{body['name']}"
    async with hub.http(owner) as http:
        patched = await http.patch(
            url, json={"title": "Biến động dân cư", "theme": None, "keywords": ["dân cư"]}
        )
        assert patched.status_code == 200, patched.text
        doc = patched.json()
        assert (doc["title"], doc["theme"], doc["keywords"]) == (
            "Biến động dân cư",
            None,
            ["dân cư"],
        )
        assert doc["description"] == body["description"]
        assert doc["updated_at"] >= doc["created_at"]
        for refused in ({"name": "renamed"}, {"partitions": 8}, {"title": None}):
            problem(await http.patch(url, json=refused), 422, "invalid_request")
        problem(
            await http.patch(f"/v1/datasets/{owner.agency}.nosuch", json={"title": "x"}),
            404,
            "dataset_not_found",
        )
        entry = (await http.get(f"/v1/catalog/{owner.agency}.{body['name']}")).json()
        assert entry["title"] == "Biến động dân cư" and entry["partitions"] == 4


async def test_a_subject_pushed_before_is_adopted(hub: Hub, owner: Caller) -> None:
    """Contracts as code may register the contract before the dataset is created."""
    body = dataset_body(owner.agency)
    subject = f"{owner.agency}.{body['name']}.v1-value"
    async with hub.registry(owner) as registry:
        pushed = await registry.post(
            f"/subjects/{subject}/versions", json={"schema": json.dumps(body["schema"])}
        )
        assert pushed.status_code == 200, pushed.text
        created = await create(hub, owner, body)
        assert created.status_code == 201, created.text
        assert created.json()["contract"]["version"] == 1
        assert created.json()["contract"]["id"] == pushed.json()["id"]
        assert (await registry.get(f"/subjects/{subject}/versions")).json() == [1]
        config = (await registry.get(f"/config/{subject}")).json()
        assert config["compatibilityLevel"] == "FULL_TRANSITIVE"


async def test_an_existing_topic_is_409_and_nothing_is_registered(
    hub: Hub, owner: Caller, kafka_bootstrap: str
) -> None:
    body = dataset_body(owner.agency)
    name = f"{owner.agency}.{body['name']}.v1"
    await ensure_topic(kafka(kafka_bootstrap), TopicSpec(name, partitions=1))
    problem(await create(hub, owner, body), 409, "topic_exists")
    async with hub.registry(owner) as registry:
        assert await subject_absent(registry, f"{name}-value")
    described = await topic(kafka_bootstrap, name)
    assert described is not None and described.partitions == 1  # left as it was


# --- failures after validation: what was made is undone -------------------------------------


@pytest.fixture
def lone_gateway(
    tmp_path: Path, kafka_bootstrap: str, request: pytest.FixtureRequest
) -> Iterator[Gateway]:
    """A gateway with a registry of its own choosing (an open one: tokens not required)."""
    registry_url, replication = request.param
    if registry_url == "fresh":
        registry_url = request.getfixturevalue("fresh_registry_url")
    settings = gateway_settings(
        tmp_path / "gateway", kafka_bootstrap, registry_url=registry_url, require_tokens=False
    )
    settings.kafka.replication_factor = replication
    with serve_gateway(settings) as gateway:
        yield gateway


async def lone_writer(gateway: Gateway) -> tuple[str, dict[str, str]]:
    agency = await gateway.create_agency()
    client_id, secret = await gateway.create_client(agency, ("publish", "catalog:read"))
    return agency, bearer(await gateway.token(client_id, secret))


@pytest.mark.parametrize("lone_gateway", [("fresh", 1)], indirect=True)
async def test_refused_at_registration_undoes_topic_and_config(
    lone_gateway: Gateway, fresh_registry_url: str, kafka_bootstrap: str
) -> None:
    """The dry run parses the contract; lint is enforced only when it is registered, after the
    topic was made. Undoing removes the topic and the subject's compatibility setting."""
    import httpx  # noqa: PLC0415

    async with httpx.AsyncClient(base_url=fresh_registry_url) as registry:
        assert (await registry.put("/config", json={"lint": "enforce"})).status_code == 200
        agency, headers = await lone_writer(lone_gateway)
        undocumented = contract(agency)
        del undocumented["doc"]
        body = dataset_body(agency, schema=undocumented)
        async with lone_gateway.client(headers=headers) as http:
            answer = problem(await http.post("/v1/datasets", json=body), 422, "invalid_contract")
            assert "record-doc" in json.dumps(answer)
            problem(
                await http.get(f"/v1/catalog/{agency}.{body['name']}"), 404, "dataset_not_found"
            )
        await wait_topic_gone(kafka_bootstrap, f"{agency}.{body['name']}.v1")
        assert await subject_absent(registry, f"{agency}.{body['name']}.v1-value")

        # and once the contract is fixed, the same dataset can be created straight away
        async with lone_gateway.client(headers=headers) as http:
            fixed = await http.post("/v1/datasets", json=body | {"schema": contract(agency)})
            assert fixed.status_code == 201, fixed.text


@pytest.mark.parametrize("lone_gateway", [("fresh", 3)], indirect=True)
async def test_kafka_refusing_the_topic_is_503_and_leaves_no_subject(
    lone_gateway: Gateway, fresh_registry_url: str, kafka_bootstrap: str
) -> None:
    import httpx  # noqa: PLC0415

    agency, headers = await lone_writer(lone_gateway)
    body = dataset_body(agency)
    async with lone_gateway.client(headers=headers) as http:
        problem(await http.post("/v1/datasets", json=body), 503, "unavailable")
    async with httpx.AsyncClient(base_url=fresh_registry_url) as registry:
        assert await subject_absent(registry, f"{agency}.{body['name']}.v1-value")
    assert await topic(kafka_bootstrap, f"{agency}.{body['name']}.v1") is None


@pytest.mark.parametrize("lone_gateway", [(f"http://127.0.0.1:{free_port()}", 1)], indirect=True)
async def test_registry_down_is_503_and_makes_nothing(
    lone_gateway: Gateway, kafka_bootstrap: str
) -> None:
    agency, headers = await lone_writer(lone_gateway)
    body = dataset_body(agency)
    async with lone_gateway.client(headers=headers) as http:
        answer = problem(await http.post("/v1/datasets", json=body), 503, "unavailable")
        assert "registry" in answer["detail"]
    assert await topic(kafka_bootstrap, f"{agency}.{body['name']}.v1") is None
