"""Routing on the path as the client spelled it: a subject segment may hold an encoded ``/``, and
the registry access rule judges exactly the name the route acts on."""

from __future__ import annotations

import re

import pytest
from starlette.routing import Route

from services.core.auth.principal import Principal
from services.core.auth.registry_access import NotOwner, authorize, subject_of
from services.core.http.segments import (
    decode_segment,
    encoded_path,
    routing_path,
    scope_routing_path,
)
from services.core.subjects import InvalidSubject
from services.registry.app import ROUTER_MODULES


@pytest.mark.parametrize(
    ("raw", "routed", "subject"),
    [
        (b"/subjects/a%2Fb.avsc/versions", "/subjects/a%2Fb.avsc/versions", "a/b.avsc"),
        (b"/subjects/a%2fb.avsc/versions", "/subjects/a%2Fb.avsc/versions", "a/b.avsc"),
        (b"/subjects/a%252Fb/versions", "/subjects/a%252Fb/versions", "a%2Fb"),  # double-encoded
        (b"/subjects/100%25/versions", "/subjects/100%25/versions", "100%"),
        (b"/subjects/mps.x%2F..%2Fother", "/subjects/mps.x%2F..%2Fother", "mps.x/../other"),
        (b"/subjects/%E1%BA%A1/versions", "/subjects/\u1ea1/versions", "\u1ea1"),
        (b"/subjects/plain-value/versions", "/subjects/plain-value/versions", "plain-value"),
        (b"/config/a%2Fb", "/config/a%2Fb", "a/b"),
        (b"/compatibility/subjects/a%2Fb/versions/1", None, "a/b"),
    ],
)
def test_a_segment_keeps_its_slash(raw: bytes, routed: str | None, subject: str) -> None:
    path = routing_path(raw)
    if routed is not None:
        assert path == routed
    assert subject_of(path) == subject
    assert routing_path(encoded_path(path).encode()) == path  # forwarding changes nothing


def test_an_encoded_slash_elsewhere_is_no_separator() -> None:
    assert routing_path(b"/subjects%2Fa/versions") == "/subjects%2Fa/versions"
    assert subject_of(routing_path(b"/subjects%2Fa/versions")) is None
    assert routing_path(b"/subjects/a/versions%2F1") == "/subjects/a/versions%2F1"


def test_dot_segments_are_forwarded_as_segments() -> None:
    path = routing_path(b"/subjects/../config")
    assert path == "/subjects/../config"
    assert encoded_path(path) == "/subjects/%2E%2E/config"
    assert routing_path(b"/subjects/%2E%2E/config") == path


def test_a_segment_that_is_not_utf8_names_no_subject() -> None:
    path = routing_path(b"/subjects/a%FF/versions")
    assert decode_segment(path.split("/")[2]) == "a\ufffd"
    with pytest.raises(InvalidSubject):
        subject_of(path)


def test_without_raw_path_a_slash_is_a_separator() -> None:
    scope = {"type": "http", "path": "/subjects/a%b/versions"}
    assert scope_routing_path(scope) == "/subjects/a%25b/versions"
    assert scope_routing_path({**scope, "raw_path": b"/subjects/a%2Fb/v"}) == "/subjects/a%2Fb/v"


def _agency(name: str, *scopes: str) -> Principal:
    return Principal(agency=name, client_id=f"{name}-c", scopes=frozenset(scopes), issuer="i")


@pytest.mark.parametrize(
    "raw",
    [
        b"/subjects/alfa.x%2Fy.v1-value/versions",  # alfa's dataset subject, with a slash in it
        b"/config/alfa.x%2Fy.v1-value",
        b"/subjects/%61lfa.records.v1-value/versions",  # an escaped letter decodes to alfa's
    ],
)
def test_ownership_is_judged_on_the_decoded_name(raw: bytes) -> None:
    path = routing_path(raw)
    authorize(_agency("alfa", "registry:write"), "POST", path)
    with pytest.raises(NotOwner):
        authorize(_agency("bravo", "registry:write"), "POST", path)


def test_a_slash_name_is_judged_as_one_name() -> None:
    bravo = _agency("bravo", "registry:write")
    path = routing_path(b"/subjects/alfa.x%2F..%2Fother/versions")
    authorize(bravo, "POST", path)  # no dataset's subject: registry:write is enough
    assert subject_of(path) == "alfa.x/../other"
    # a name whose last part reads as alfa's subject is a look-alike, refused for everyone
    with pytest.raises(InvalidSubject):
        authorize(bravo, "POST", routing_path(b"/subjects/x%2Falfa.r.v1-value/versions"))


def test_every_registry_path_parameter_is_a_decoded_segment() -> None:
    # the registry routes on the routing form: a parameter declared without ``:segment`` would
    # receive a subject still escaped ("a%2Fb") and name another subject than the access rule's
    params = [
        (route.path, name)
        for module in ROUTER_MODULES
        for route in module.router.routes
        if isinstance(route, Route)
        for name in re.findall(r"{([^}]*)}", route.path)
    ]
    assert params
    assert [(path, name) for path, name in params if not name.endswith(":segment")] == []
