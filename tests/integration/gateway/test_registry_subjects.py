"""No agency writes another's contract under another spelling of its subject: at the registry's
own door (tokens required) and through the gateway's ``/registry`` proxy alike."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from urllib.parse import quote

import httpx
import pytest

from tests.fixtures.catalog import V1, Caller, Hub

Door = Callable[[Hub, Caller], AsyncIterator[tuple[httpx.AsyncClient, str]]]


@asynccontextmanager
async def direct(hub: Hub, caller: Caller) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    async with hub.registry(caller) as http:
        yield http, ""


@asynccontextmanager
async def proxied(hub: Hub, caller: Caller) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    async with hub.http(caller) as http:
        http.headers.update({"Content-Type": V1, "Accept": V1})
        yield http, "/registry"


DOORS = pytest.mark.parametrize("door", [direct, proxied], ids=["registry", "gateway"])


def contract(agency: str, *extra: str) -> str:
    """A contract of ``agency``; each ``extra`` field optional, so that it evolves compatibly."""
    optional = {"type": ["null", "string"], "default": None}
    fields = [{"name": "id", "type": "string", "doc": "The id."}]
    fields += [{"name": name, "doc": f"The {name}.", **optional} for name in extra]
    namespace = f"vn.gov.{agency.replace('-', '_')}"
    record = {"type": "record", "name": "Rec", "namespace": namespace, "doc": "A record."}
    return json.dumps(record | {"fields": fields})


def at(subject: str) -> str:
    """A subject as a path segment: every character percent-encoded, as a client sends it."""
    return quote(subject, safe="")


def spellings(subject: str) -> list[str]:
    """Names of ``subject`` that a registry taking names literally would store as new subjects."""
    head, rest = subject[0], subject[1:]
    return [
        subject.upper(),
        head.upper() + rest,
        f" {subject}",
        f"{subject} ",
        f"{subject}\x00",
        f"{subject}\n",
        f"{subject}\u200b",
        f"\ufeff{subject}",
        f"{subject}\u202e",
        f":.{subject.split('.', maxsplit=1)[0]}:{subject}",
        chr(ord(head) - ord("a") + 0xFF41) + rest,  # a full-width first letter
        subject.replace("-value", "\u2010value"),
        "\u0442" + rest,  # a Cyrillic te for the agency's t
    ]


@DOORS
async def test_another_spelling_of_a_dataset_subject_is_refused(hub: Hub, door: Door) -> None:
    alfa = await hub.caller("registry:write")
    bravo = await hub.caller("registry:write")
    subject = f"{alfa.agency}.records-{uuid.uuid4().hex[:6]}.v1-value"
    body = {"schema": contract(alfa.agency)}
    async with door(hub, alfa) as (http, prefix):
        # the default context's spelling is the plain name: stored, listed and read as it
        registered = await http.post(f"{prefix}/subjects/{at(':.:' + subject)}/versions", json=body)
        assert registered.status_code == 200, registered.text
        assert subject in (await http.get(f"{prefix}/subjects")).json()
        found = await http.get(f"{prefix}/subjects/{at(subject)}/versions/1")
        assert found.json()["subject"] == subject
        assert (await http.get(f"{prefix}/subjects/:.:{subject}/versions")).json() == [1]

    evolved = {"schema": contract(alfa.agency, "extra")}
    async with door(hub, bravo) as (http, prefix):
        qualified = f"{prefix}/subjects/{at(':.:' + subject)}"
        for method, path in [
            ("POST", f"{qualified}/versions"),
            ("DELETE", qualified),
            ("PUT", f"{prefix}/config/{at(':.:' + subject)}"),
            ("PUT", f"{prefix}/mode/{at(':.:' + subject)}"),
        ]:
            answer = await http.request(method, path, json=evolved | {"mode": "READONLY"})
            assert answer.status_code == 403, (method, path, answer.text)
            assert "belongs to a dataset of agency" in answer.json()["message"]
        for name in spellings(subject):
            for method, path in [
                ("POST", f"{prefix}/subjects/{at(name)}/versions"),
                ("PUT", f"{prefix}/config/{at(name)}"),
                ("GET", f"{prefix}/subjects/{at(name)}/versions"),
            ]:
                answer = await http.request(method, path, json=evolved | {"compatibility": "NONE"})
                assert answer.status_code == 422, (name, method, answer.text)
                assert answer.json()["error_code"] == 42208, (name, answer.text)
                assert answer.headers["content-type"] == V1
        # a percent-escape that is not UTF-8 names no subject either
        broken = await http.post(f"{prefix}/subjects/{at(subject)}%FF/versions", json=evolved)
        assert broken.status_code == 422
        assert broken.json()["error_code"] == 42208

    async with door(hub, alfa) as (http, prefix):
        listed = (await http.get(f"{prefix}/subjects", params={"deleted": "true"})).json()
        assert [s for s in listed if alfa.agency[1:] in s.casefold()] == [subject]  # no look-alike
        assert (await http.get(f"{prefix}/subjects/{at(subject)}/versions")).json() == [1]
        mode = await http.get(f"{prefix}/mode/{at(subject)}", params={"defaultToGlobal": "true"})
        assert mode.json() == {"mode": "READWRITE"}
        evolving = await http.post(f"{prefix}/subjects/{at(subject)}/versions", json=evolved)
        assert evolving.status_code == 200, evolving.text  # the owner's own subject still works
        assert (await http.get(f"{prefix}/subjects/{at(subject)}/versions")).json() == [1, 2]


@DOORS
async def test_a_subject_with_a_slash_is_owned_by_its_decoded_name(hub: Hub, door: Door) -> None:
    alfa = await hub.caller("registry:write")
    bravo = await hub.caller("registry:write")
    tag = uuid.uuid4().hex[:6]
    owned = f"{alfa.agency}.lib-{tag}/x.v1-value"  # alfa's dataset subject, "/" and all
    shared = f"lib{tag}/address.avsc"  # a reference library's file-like name: no owner
    body = {"schema": contract(alfa.agency)}
    async with door(hub, alfa) as (http, prefix):
        answer = await http.post(f"{prefix}/subjects/{at(owned)}/versions", json=body)
        assert answer.status_code == 200, answer.text
    async with door(hub, bravo) as (http, prefix):
        for method, path in [
            ("POST", f"/subjects/{at(owned)}/versions"),
            ("DELETE", f"/subjects/{at(owned)}/versions/1"),
            ("DELETE", f"/subjects/{at(owned)}"),
            ("PUT", f"/config/{at(owned)}"),
            ("PUT", f"/mode/{at(owned)}"),
        ]:
            answer = await http.request(method, prefix + path, json=body | {"mode": "READONLY"})
            assert answer.status_code == 403, (method, path, answer.text)
            assert f"subject {owned} belongs to a dataset of agency" in answer.json()["message"]
        # reads are open, and answer the name the owner registered
        found = await http.get(f"{prefix}/subjects/{at(owned)}/versions/latest")
        assert found.json()["subject"] == owned, found.text
        listed = await http.get(f"{prefix}/subjects", params={"subjectPrefix": f"lib{tag}/"})
        assert listed.json() == []
        # a name of its own (no dataset's) needs only registry:write, "/" and ".." included
        for name in (shared, f"{alfa.agency}.x/../{tag}"):
            answer = await http.post(f"{prefix}/subjects/{at(name)}/versions", json=body)
            assert answer.status_code == 200, (name, answer.text)
            got = await http.get(f"{prefix}/subjects/{at(name)}/versions/1")
            assert got.json()["subject"] == name
        # a path with a dot segment is no other path: nothing routes it, global config included
        answer = await http.put(f"{prefix}/subjects/%2E%2E/config", json={"compatibility": "NONE"})
        assert answer.status_code == 404, answer.text
        assert answer.json()["error_code"] == 404
    async with door(hub, alfa) as (http, prefix):
        assert (await http.get(f"{prefix}/subjects/{at(owned)}/versions")).json() == [1]
        config = await http.get(f"{prefix}/config")
        assert config.json()["compatibilityLevel"] != "NONE"


async def test_an_encoded_slash_in_the_proxy_prefix_is_not_the_proxy(hub: Hub) -> None:
    alfa = await hub.caller("registry:write")
    async with hub.http(alfa) as http:
        answer = await http.get("/registry%2Fsubjects")
        assert answer.status_code == 404, answer.text
        assert answer.json()["error_code"] == 404
        assert (await http.get("/registry/subjects")).status_code == 200


async def test_the_proxy_answers_in_the_media_type_asked_for(hub: Hub) -> None:
    alfa = await hub.caller("registry:write")
    async with hub.http() as anonymous, hub.http(alfa) as http:
        for accept, answered in [
            ("application/json", "application/json"),
            ("application/vnd.schemaregistry+json", "application/vnd.schemaregistry+json"),
            ("*/*", V1),
        ]:
            headers = {"Accept": accept}
            listed = await http.get("/registry/subjects", headers=headers)
            assert (listed.status_code, listed.headers["content-type"]) == (200, answered)
            refused = await anonymous.get("/registry/subjects", headers=headers)  # the gateway's
            assert (refused.status_code, refused.headers["content-type"]) == (401, answered)
        unacceptable = await http.get("/registry/subjects", headers={"Accept": "text/html"})
        assert unacceptable.status_code == 406, unacceptable.text
        assert unacceptable.json() == {"error_code": 406, "message": "HTTP 406 Not Acceptable"}
