"""soap-source end to end: a local SOAP service → a connect worker → the dataset topic and the DLQ.

The service (:mod:`tests.integration.connect.soap_service`) is a real WSDL 1.1 document/literal
service over HTTP; the worker loads its WSDL with zeep and calls ``GetPeople`` on its schedule.
With a watermark, an item the service shows only after a call, stamped with exactly that call's
latest time, still arrives, and nothing arrives twice.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import httpx
import pytest

from services.core.avro.codec import compile_contract, decode
from services.core.kafka.headers import EVENT_ID, decode_headers
from tests.fixtures.servers import RunningServer, serve_app
from tests.integration.connect.conftest import (
    PERSON,
    Connect,
    Dataset,
    read_topic,
    register_dataset,
    wait_for_state,
)
from tests.integration.connect.soap_service import Person, SoapService

ICT = timezone(timedelta(hours=7))  # Vietnam's offset: the service's times carry it
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=ICT)
NAMES = ["Nguyễn Văn An", "Trần Thị Bình", "Lê Hoàng Cường", "Phạm Thị Dung", "Đặng Quốc Việt"]


def person(i: int, **changes: Any) -> Person:
    values: dict[str, Any] = {
        "id": i,
        "name": f"{NAMES[i % len(NAMES)]} {i}",
        "age": 20 + i,
        "updated": T0 + timedelta(minutes=i),
    }
    return Person(**(values | changes))


@pytest.fixture
def soap() -> Iterator[tuple[SoapService, RunningServer]]:
    service = SoapService()
    with serve_app(service.app()) as server:
        yield service, server


def soap_config(dataset: Dataset, server: RunningServer, **extra: Any) -> dict[str, Any]:
    return {
        "connector.class": "soap-source",
        "dataset": dataset.ref,
        "errors.tolerance": "all",
        "wsdl": f"{server.url}/service?wsdl",
        "service": "PeopleService",
        "port": "PeoplePort",
        "operation": "GetPeople",
        "records_path": "people.person",
        "id_field": "id",
        "key_field": "id",
        "mapping": {"id": "id", "name": "name", "age": "age"},
        "poll_interval_seconds": 0.2,
        **extra,
    }


async def create(http: httpx.AsyncClient, name: str, config: dict[str, Any]) -> None:
    response = await http.post("/connectors", json={"name": name, "config": config})
    assert response.status_code == 201, response.text


async def wait_until(condition: Callable[[], bool], within: float = 20.0) -> None:
    """Polls: the service runs in the server's thread, with nothing to await on."""
    async with asyncio.timeout(within):
        while True:
            if condition():
                return
            await asyncio.sleep(0.05)


async def test_items_arrive_decoded_and_one_without_a_name_is_dead_lettered(
    connect: Connect,
    dataset: Dataset,
    soap: tuple[SoapService, RunningServer],
    kafka_bootstrap: str,
) -> None:
    service, server = soap
    service.people = [person(i) for i in range(1, 21)]
    service.people[6] = person(7, name=None)  # the service leaves the element out
    name = f"soap-{dataset.agency}"
    # One call: without a watermark every poll reads the whole list again.
    config = soap_config(dataset, server, poll_interval_seconds=3600)
    async with connect.serve() as http:
        await create(http, name, config)
        good = await read_topic(kafka_bootstrap, dataset.topic, 19, settle=1.0)
        dead = await read_topic(kafka_bootstrap, f"ndxp.dlq.{name}", 1)
        status = (await http.get(f"/connectors/{name}/status")).json()
    assert status["connector"]["state"] == "RUNNING"

    contract = compile_contract(dataset.schema_id, PERSON)
    values = [decode(r.value, contract) for r in good]
    expected = [{"id": p.id, "name": p.name, "age": p.age} for p in service.people if p.name]
    assert values == expected  # in the service's order, Vietnamese names intact
    assert [r.key for r in good] == [str(v["id"]).encode() for v in values]
    assert len({decode_headers(r.headers)[EVENT_ID] for r in good}) == 19

    assert len(dead) == 1
    headers = decode_headers(dead[0].headers)
    assert json.loads(headers["ndxp-source-position"])["id"] == 7
    assert "/name" in headers["ndxp-error"]
    assert json.loads(dead[0].value) == {"id": 7, "name": None, "age": 27}


async def test_a_watermark_asks_for_what_changed_and_only_that_arrives(
    connect: Connect,
    dataset: Dataset,
    soap: tuple[SoapService, RunningServer],
    kafka_bootstrap: str,
) -> None:
    service, server = soap
    service.credentials = ("ndxp", "mật-khẩu")
    service.people = [person(i) for i in range(1, 6)]
    name = f"soap-wm-{dataset.agency}"
    config = soap_config(
        dataset,
        server,
        watermark={"field": "updated", "argument": "since"},
        auth={"username": "ndxp", "password": "mật-khẩu"},
    )
    contract = compile_contract(dataset.schema_id, PERSON)
    async with connect.serve() as http:
        await create(http, name, config)
        first = await read_topic(kafka_bootstrap, dataset.topic, 5)
        # The next call passes the largest `updated` seen; the service answers it inclusively
        # (person 5 again), and the source skips what it already has.
        await wait_until(
            lambda: any(r.since == T0 + timedelta(minutes=5) for r in service.requests)
        )

        service.people[1] = person(2, age=99, updated=T0 + timedelta(minutes=6))  # changed
        service.people += [person(7), person(8)]  # new
        latest = T0 + timedelta(minutes=8)
        await wait_until(lambda: any(r.since == latest for r in service.requests))
        records = await read_topic(kafka_bootstrap, dataset.topic, 8, settle=1.0)
        offsets = (await http.get(f"/connectors/{name}/offsets")).json()
        shown = (await http.get(f"/connectors/{name}/config")).json()
    assert shown["auth"] == {"username": "ndxp", "password": "**********"}

    assert [decode(r.value, contract) for r in first] == [
        {"id": i, "name": f"{NAMES[i % 5]} {i}", "age": 20 + i} for i in range(1, 6)
    ]
    assert [decode(r.value, contract) for r in records[5:]] == [
        {"id": 2, "name": f"{NAMES[2]} 2", "age": 99},
        {"id": 7, "name": f"{NAMES[2]} 7", "age": 27},
        {"id": 8, "name": f"{NAMES[3]} 8", "age": 28},
    ]
    # The changed item is a new event, not a repeat of its first version.
    assert len({decode_headers(r.headers)[EVENT_ID] for r in records}) == 8
    assert service.requests[0].since is None
    assert all(r.since is not None for r in service.requests[1:])
    assert offsets["offsets"][0]["offset"] == {"watermark": latest.isoformat(), "at": [8]}


async def wait_for_offset(http: httpx.AsyncClient, name: str, offset: dict[str, Any]) -> None:
    expected = {"offsets": [{"partition": {"connector": name}, "offset": offset}]}
    async with asyncio.timeout(30):
        while (await http.get(f"/connectors/{name}/offsets")).json() != expected:  # noqa: ASYNC110 - polls the worker's HTTP API
            await asyncio.sleep(0.1)


async def test_an_item_at_the_watermark_shown_on_a_later_call_arrives_and_nothing_twice(
    connect: Connect,
    dataset: Dataset,
    soap: tuple[SoapService, RunningServer],
    kafka_bootstrap: str,
) -> None:
    # Persons 4 and 5 share the latest time of call 1; person 6, stamped with that same time
    # (its transaction committed late), and person 7 appear only after that call.
    mark = T0 + timedelta(minutes=5)
    first = [person(1), person(2), person(3), person(4, updated=mark), person(5)]
    shown_late = [person(6, updated=mark), person(7)]
    service, server = soap
    service.people = first
    name = f"soap-late-{dataset.agency}"
    config = soap_config(dataset, server, watermark={"field": "updated", "argument": "since"})
    async with connect.serve() as http:
        await create(http, name, config)
        await wait_for_offset(http, name, {"watermark": mark.isoformat(), "at": [4, 5]})
        service.people = first + shown_late
        latest = T0 + timedelta(minutes=7)
        await wait_for_offset(http, name, {"watermark": latest.isoformat(), "at": [7]})
        # two more calls since 7: the first one's records, had it any, are on the topic before
        # the second one is made
        await wait_until(lambda: sum(r.since == latest for r in service.requests) >= 2)
        records = await read_topic(kafka_bootstrap, dataset.topic, 7, settle=1.0)

    contract = compile_contract(dataset.schema_id, PERSON)
    assert [decode(r.value, contract) for r in records] == [
        {"id": p.id, "name": p.name, "age": p.age} for p in first + shown_late
    ]
    assert len({decode_headers(r.headers)[EVENT_ID] for r in records}) == 7
    # The call after the first asked since 5 and was given 4 and 5 again: they were skipped.
    assert any(r.since == mark for r in service.requests)


async def test_a_fault_or_a_refused_login_fails_the_connector_with_the_reason(
    connect: Connect, dataset: Dataset, soap: tuple[SoapService, RunningServer]
) -> None:
    service, server = soap
    service.credentials = ("ndxp", "secret")
    service.people = [person(1)]
    faulting = f"soap-fault-{dataset.agency}"
    refused = f"soap-401-{dataset.agency}"
    good_login = {"username": "ndxp", "password": "secret"}
    async with connect.serve() as http:
        await create(
            http,
            faulting,
            soap_config(dataset, server, arguments={"region": "ZZ"}, auth=good_login),
        )
        bad_login = {"username": "ndxp", "password": "wrong"}
        await create(http, refused, soap_config(dataset, server, auth=bad_login))
        fault = await wait_for_state(http, faulting, "FAILED")
        login = await wait_for_state(http, refused, "FAILED")
    assert "SOAP Fault" in fault["connector"]["trace"]
    assert "unknown region 'ZZ'" in fault["connector"]["trace"]
    assert "HTTP 401" in login["connector"]["trace"]
    assert "wrong" not in login["connector"]["trace"]
    # The refused one never got through; the other was answered with a fault each time.
    assert service.requests
    assert all(r.region == "ZZ" for r in service.requests)


RICH = {
    "type": "record",
    "name": "Resident",
    "namespace": "vn.gov.test",
    "doc": "A person with the value types zeep gives: dates, decimals, instants.",
    "fields": [
        {"name": "id", "type": "long", "doc": "Id."},
        {"name": "name", "type": ["null", "string"], "doc": "Full name, when known."},
        {"name": "age", "type": "int", "doc": "Age in years."},
        {
            "name": "born",
            "type": ["null", {"type": "int", "logicalType": "date"}],
            "doc": "Date of birth.",
        },
        {
            "name": "balance",
            "type": [
                "null",
                {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2},
            ],
            "doc": "Balance in VND.",
        },
        {
            "name": "updated",
            "type": {"type": "long", "logicalType": "timestamp-millis"},
            "doc": "Last change.",
        },
    ],
}


@pytest.fixture
async def residents(registry_url: str, kafka_bootstrap: str) -> Dataset:
    return await register_dataset(registry_url, kafka_bootstrap, "residents", RICH)


async def test_dates_decimals_and_instants_and_absent_elements_reach_the_contract(
    connect: Connect,
    residents: Dataset,
    soap: tuple[SoapService, RunningServer],
    kafka_bootstrap: str,
) -> None:
    service, server = soap
    service.people = [
        person(1, born=date(1990, 5, 17), balance=Decimal("1234567890.50")),
        person(2, born=date(2001, 12, 31), balance=Decimal("-0.07")),
        person(3, name=None),  # no name, birth date or balance: null where the contract allows
    ]
    name = f"soap-rich-{residents.agency}"
    # No mapping: an item's fields are the record's.
    config = soap_config(residents, server, poll_interval_seconds=3600, mapping={})
    async with connect.serve() as http:
        await create(http, name, config)
        records = await read_topic(kafka_bootstrap, residents.topic, 3, settle=1.0)
    contract = compile_contract(residents.schema_id, RICH)
    assert [decode(r.value, contract) for r in records] == [
        {
            "id": p.id,
            "name": p.name,
            "age": p.age,
            "born": p.born,
            "balance": p.balance,
            "updated": p.updated.astimezone(UTC),
        }
        for p in service.people
    ]
