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
