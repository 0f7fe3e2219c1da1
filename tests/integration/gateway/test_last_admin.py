"""The hub keeps an admin: the admin API refuses to disable the last enabled admin client (or its
agency), a second admin lets the first go, and the CLI on the hub's machine may do it anyway."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from services.gateway.identity.last_admin import admin_clients
from tests.fixtures.gateway import Gateway, bearer, gateway_settings, serve_gateway
from tests.integration.gateway.catalog_data import problem


@pytest.fixture
def gateway(tmp_path: Path, kafka_bootstrap: str, database_url: str) -> Iterator[Gateway]:
    """A gateway with a control plane of its own (SQLite, then PostgreSQL): the only admins are
    the test's."""
    settings = gateway_settings(tmp_path, kafka_bootstrap, database_url=database_url)
    with serve_gateway(settings) as running:
        yield running


@dataclass
class Admin:
    agency: str
    client_id: str
    http: httpx.AsyncClient


async def admin(gateway: Gateway) -> Admin:
    """A new agency's admin client, and an HTTP client calling the gateway as it."""
    agency = await gateway.create_agency()
    client_id, secret = await gateway.create_client(agency, ("admin",))
    token = await gateway.token(client_id, secret)
    return Admin(agency, client_id, gateway.client(headers=bearer(token)))


async def enabled_admins(gateway: Gateway) -> list[str]:
    async with gateway.session() as session:
        return await admin_clients(session)


async def test_the_last_admin_client_and_its_agency_stay_enabled(gateway: Gateway) -> None:
    first = await admin(gateway)
    member, _ = await gateway.create_client(first.agency, ("publish",))
    async with first.http as http:
        for path in (
            f"/v1/admin/clients/{first.client_id}/disable",
            f"/v1/admin/agencies/{first.agency}/disable",
        ):
            refused = problem(await http.post(path), 409, "last_admin")
            assert first.client_id in refused["detail"]
        # a client that is no admin goes as before
        disabled = await http.post(f"/v1/admin/clients/{member}/disable")
        assert disabled.status_code == 200, disabled.text
        listed = (await http.get(f"/v1/admin/agencies/{first.agency}/clients")).json()["items"]
        assert {c["client_id"]: c["enabled"] for c in listed} == {
            first.client_id: True,
            member: False,
        }
        assert (await http.get(f"/v1/admin/agencies/{first.agency}")).json()["enabled"] is True

        second = await admin(gateway)
        async with second.http as other:
            # with a second admin, the first may go, by its own hand
            gone = await http.post(f"/v1/admin/clients/{first.client_id}/disable")
            assert gone.status_code == 200, gone.text
            assert gone.json()["enabled"] is False
            # and now the second is the last one: neither it nor its agency may go
            for path in (
                f"/v1/admin/clients/{second.client_id}/disable",
                f"/v1/admin/agencies/{second.agency}/disable",
            ):
                problem(await other.post(path), 409, "last_admin")
            # the first's agency holds no enabled admin any more: it may be disabled
            later = await other.post(f"/v1/admin/agencies/{first.agency}/disable")
            assert later.status_code == 200, later.text
    assert await enabled_admins(gateway) == [second.client_id]


async def test_two_admins_disabling_each_other_at_once_leave_one(gateway: Gateway) -> None:
    one, two = await admin(gateway), await admin(gateway)
    async with one.http, two.http:
        answers = await asyncio.gather(
            one.http.post(f"/v1/admin/clients/{two.client_id}/disable"),
            two.http.post(f"/v1/admin/clients/{one.client_id}/disable"),
        )
    assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
    assert len(await enabled_admins(gateway)) == 1


async def test_the_cli_may_disable_the_last_admin_with_a_warning(gateway: Gateway) -> None:
    only = await admin(gateway)
    await only.http.aclose()
    env = {**os.environ, "NDXP_DATABASE_URL": gateway.settings.database_url}

    def ndxp(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "services.cli", *args]
        return subprocess.run(
            command, env=env, capture_output=True, text=True, check=False, timeout=60
        )

    disabled = await asyncio.to_thread(ndxp, "clients", "disable", only.client_id)
    assert disabled.returncode == 0, disabled.stderr
    assert f"{only.client_id}\tdisabled" in disabled.stdout
    assert "no enabled admin client is left" in disabled.stderr
    assert f"ndxp clients enable {only.client_id}" in disabled.stderr
    assert await enabled_admins(gateway) == []
    enabled = await asyncio.to_thread(ndxp, "clients", "enable", only.client_id)
    assert enabled.returncode == 0, enabled.stderr
    assert "warning" not in enabled.stderr
    assert await enabled_admins(gateway) == [only.client_id]
