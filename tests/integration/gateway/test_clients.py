"""Clients over HTTP and through ``ndxp clients``: a secret is shown once, obtains tokens, and
never appears again in a listing or a log line."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import time
import uuid

import httpx
import pytest

from tests.fixtures.catalog import Caller, Hub
from tests.fixtures.cli import ndxp as run_ndxp
from tests.integration.gateway.catalog_data import problem

TOKEN = "/oauth2/token"


def token_status(hub: Hub, client_id: str, secret: str) -> int:
    form = {"grant_type": "client_credentials"}
    response = httpx.post(hub.url + TOKEN, data=form, auth=(client_id, secret), timeout=30)
    return response.status_code


async def test_create_client_then_its_secret_obtains_a_token(
    hub: Hub, ops: Caller, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    agency = await hub.gateway.create_agency()
    async with hub.http(ops) as http:
        created = await http.post(
            f"/v1/admin/agencies/{agency}/clients",
            json={"name": "Hệ thống Cư trú", "scopes": ["publish", "catalog:read"]},
        )
        assert created.status_code == 201, created.text
        assert created.headers["cache-control"] == "no-store"
        body = created.json()
        client_id, secret = body["client_id"], body["client_secret"]
        assert re.fullmatch(rf"{agency}-he-thong-cu-tru-[a-z0-9]{{6}}", client_id)
        assert body["scopes"] == ["catalog:read", "publish"]
        assert body["agency"] == agency and body["enabled"] is True

        issued = await http.post(
            TOKEN, data={"grant_type": "client_credentials"}, auth=(client_id, secret)
        )
        assert issued.status_code == 200, issued.text
        assert issued.json()["scope"] == "catalog:read publish"

        listed = await http.get(f"/v1/admin/agencies/{agency}/clients")
        assert listed.status_code == 200
        assert secret not in listed.text and "scrypt" not in listed.text
        (item,) = listed.json()["items"]
        assert "client_secret" not in item and "secret_hash" not in item
        assert item["client_id"] == client_id
    assert secret not in caplog.text


async def test_rotate_then_disable(hub: Hub, ops: Caller, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    agency = await hub.gateway.create_agency()
    async with hub.http(ops) as http:
        created = await http.post(
            f"/v1/admin/agencies/{agency}/clients", json={"name": "sync", "scopes": ["subscribe"]}
        )
        client_id, old = created.json()["client_id"], created.json()["client_secret"]
        rotated = await http.post(f"/v1/admin/clients/{client_id}/rotate-secret")
        assert rotated.status_code == 200 and rotated.headers["cache-control"] == "no-store"
        new = rotated.json()["client_secret"]
        assert new != old and rotated.json()["secret_rotated_at"]
        assert await hub.gateway.token(client_id, new)
        assert (await hub.gateway.token_response(client_id, old)).status_code in (400, 401)

        disabled = await http.post(f"/v1/admin/clients/{client_id}/disable")
        assert disabled.status_code == 200 and disabled.json()["enabled"] is False
        assert "client_secret" not in disabled.json()
        assert (await hub.gateway.token_response(client_id, new)).status_code in (400, 401)
        enabled = await http.post(f"/v1/admin/clients/{client_id}/enable")
        assert enabled.json()["enabled"] is True
    assert old not in caplog.text and new not in caplog.text


async def test_refusals(hub: Hub, ops: Caller) -> None:
    agency = await hub.gateway.create_agency()
    async with hub.http(ops) as http:
        url = f"/v1/admin/agencies/{agency}/clients"
        for body, field in [
            ({"name": "x", "scopes": ["root"]}, "scopes"),
            ({"name": "x", "scopes": []}, "scopes"),
            ({"name": "", "scopes": ["publish"]}, "name"),
            ({"name": "x"}, "scopes"),
        ]:
            answer = problem(await http.post(url, json=body), 422, "invalid_request")
            assert ["body", field] == answer["errors"][0]["loc"][:2], answer
        problem(
            await http.post("/v1/admin/agencies/nosuch/clients", json={"name": "x", "scopes": []}),
            422,
            "invalid_request",
        )
        body = {"name": "x", "scopes": ["publish"]}
        problem(
            await http.post("/v1/admin/agencies/nosuch/clients", json=body), 404, "agency_not_found"
        )
        problem(await http.post("/v1/admin/clients/nosuch/rotate-secret"), 404, "client_not_found")
        problem(await http.post("/v1/admin/clients/nosuch/disable"), 404, "client_not_found")
        await hub.gateway.set_agency_enabled(agency, False)
        problem(await http.post(url, json=body), 409, "agency_disabled")


async def test_only_admins(hub: Hub) -> None:
    member = await hub.caller("catalog:read", "publish")
    async with hub.http(member) as http:
        body = {"name": "mine", "scopes": ["admin"]}
        url = f"/v1/admin/agencies/{member.agency}/clients"
        problem(await http.post(url, json=body), 403, "insufficient_scope")
        problem(
            await http.post(f"/v1/admin/clients/{member.client_id}/rotate-secret"),
            403,
            "insufficient_scope",
        )


def ndxp(hub: Hub, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NDXP_DATABASE_URL": hub.gateway.settings.database_url}
    return run_ndxp(*args, env=env)


def secret_of(output: str) -> tuple[str, str]:
    fields = dict(line.split(": ", 1) for line in output.splitlines() if ": " in line)
    return fields["client_id"], fields["client_secret"]


def test_cli_bootstraps_an_agency_and_a_client_that_gets_tokens(hub: Hub) -> None:
    agency = f"cli{uuid.uuid4().hex[:8]}"
    created = ndxp(
        hub,
        "agencies",
        "create",
        agency,
        "--name",
        "Bộ Tài chính",
        "--kind",
        "ministry",
        "--code",
        f"G{uuid.uuid4().hex[:6]}",
    )
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith(f"{agency}\tministry\tenabled\t")
    assert ndxp(hub, "agencies", "create", agency, "--name", "x", "--kind", "other").returncode == 1
    assert f"{agency}\tministry" in ndxp(hub, "agencies", "list").stdout

    client = ndxp(
        hub,
        "clients",
        "create",
        agency,
        "--name",
        "Kho bạc sync",
        "--scope",
        "publish",
        "--scope",
        "catalog:read",
    )
    assert client.returncode == 0, client.stderr
    client_id, secret = secret_of(client.stdout)
    assert client_id.startswith(f"{agency}-kho-bac-sync-")
    assert "shown this once" in client.stderr
    assert token_status(hub, client_id, secret) == 200

    listed = ndxp(hub, "clients", "list", agency)
    assert listed.returncode == 0 and client_id in listed.stdout
    assert secret not in listed.stdout + listed.stderr

    rotated = ndxp(hub, "clients", "rotate", client_id)
    assert rotated.returncode == 0, rotated.stderr
    _, new_secret = secret_of(rotated.stdout)
    refused_within_a_second(hub, client_id, secret)
    assert token_status(hub, client_id, new_secret) == 200

    assert ndxp(hub, "clients", "disable", client_id).returncode == 0
    refused_within_a_second(hub, client_id, new_secret)
    assert ndxp(hub, "clients", "enable", client_id).returncode == 0
    assert ndxp(hub, "agencies", "disable", agency).returncode == 0
    refused_within_a_second(hub, client_id, new_secret)


def refused_within_a_second(hub: Hub, client_id: str, secret: str) -> None:
    """The CLI writes behind the gateway's back: its in-memory view of identities sees the change
    within a second (the CLI process's exit already took part of it): a request sent a second
    after the CLI returned is refused."""
    time.sleep(1.0)
    assert token_status(hub, client_id, secret) in (400, 401), f"{client_id}'s secret still works"


def test_cli_refusals_say_why(hub: Hub) -> None:
    bad = ndxp(hub, "agencies", "create", "Not-Valid", "--name", "x", "--kind", "other")
    assert bad.returncode == 1 and "invalid agency name" in bad.stderr
    missing = ndxp(hub, "clients", "create", "nosuchagency", "--name", "x", "--scope", "publish")
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    wrong_scope = ndxp(hub, "clients", "create", "x", "--name", "x", "--scope", "root")
    assert wrong_scope.returncode == 2 and "invalid choice" in wrong_scope.stderr
