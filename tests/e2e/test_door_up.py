"""On a hub as ``ndxp up`` runs it (tokens required, SQLite, registry and gateway in their own
processes): the registry answers from its in-memory view of identities, and still refuses a
revoked token, a rotated secret and a disabled client within a second of the change, whether the
change came through the gateway or from ``ndxp clients`` straight on the control plane."""

from __future__ import annotations

import time
import uuid

import httpx

from tests.fixtures.cli import ndxp
from tests.fixtures.hub import Hub

WITHIN = 1.0


def refused_a_second_later(
    registry: httpx.Client, auth: httpx.Auth | None, token: str = ""
) -> bool:
    """Whether ``GET /subjects`` at the registry, sent ``WITHIN`` seconds after the change just
    made, answers 401 to these credentials."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    time.sleep(WITHIN)
    answer = registry.get("/subjects", auth=auth, headers=headers)
    assert answer.status_code in (200, 401), answer.text
    return answer.status_code == 401


def test_the_registry_refuses_within_a_second(shared_hub: Hub) -> None:
    admin = shared_hub.headers()  # the demo client holds every scope, admin included
    with httpx.Client(base_url=shared_hub.gateway, timeout=30) as gateway:
        created = gateway.post(
            "/v1/admin/agencies/demo/clients",
            json={"name": f"door {uuid.uuid4().hex[:6]}", "scopes": ["catalog:read"]},
            headers=admin,
        )
        assert created.status_code == 201, created.text
        client_id, old = created.json()["client_id"], created.json()["client_secret"]
        issued = gateway.post(
            "/oauth2/token", data={"grant_type": "client_credentials"}, auth=(client_id, old)
        )
        token = issued.json()["access_token"]

    with httpx.Client(base_url=shared_hub.url("registry"), timeout=30) as registry:
        for _ in range(2):  # the second Basic call is answered from the verified-secret cache
            assert registry.get("/subjects", auth=(client_id, old)).status_code == 200
        assert registry.get("/subjects", headers={"Authorization": f"Bearer {token}"}).is_success

        # ndxp clients rotate: another process, straight on the SQLite file
        rotated = ndxp("clients", "rotate", client_id, env=shared_hub.env)
        assert rotated.returncode == 0, rotated.stderr
        new = next(
            line.split(": ", 1)[1]
            for line in rotated.stdout.splitlines()
            if line.startswith("client_secret: ")
        )
        assert refused_a_second_later(registry, httpx.BasicAuth(client_id, old))
        assert registry.get("/subjects", auth=(client_id, new)).status_code == 200

        with httpx.Client(base_url=shared_hub.gateway, timeout=30) as gateway:
            revoked = gateway.post("/oauth2/revoke", data={"token": token}, auth=(client_id, new))
            assert revoked.status_code == 200
            assert refused_a_second_later(registry, None, token)

            disabled = gateway.post(f"/v1/admin/clients/{client_id}/disable", headers=admin)
            assert disabled.status_code == 200, disabled.text
        assert refused_a_second_later(registry, httpx.BasicAuth(client_id, new))
