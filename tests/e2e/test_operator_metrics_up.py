"""What an operator's Prometheus reads from ``ndxp up`` as ``make run`` leaves it (tokens
everywhere, SQLite): series that exist before their first event, so the first refusal, rejection
or registration is an increase from 0, and the registry's, identity's, audit's and connectors'
own metrics moving with the flows they count."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

import httpx
import pytest

from services import demo
from services.registry.compatibility import CompatibilityLevel
from tests.e2e.test_service_identities import READINGS, cli_env, create_dataset, file_connector
from tests.fixtures.cli import ndxp
from tests.fixtures.hub import Hub
from tests.fixtures.registry import V1
from tests.fixtures.streams import metric
from tests.integration.connect.conftest import read_topic


@pytest.fixture
def hub(shared_hub: Hub) -> Hub:
    return shared_hub


def scrape(hub: Hub, service: str) -> str:
    answer = httpx.get(
        f"{hub.url(service)}/metrics", headers=hub.headers("metrics:read"), timeout=10
    )
    assert answer.status_code == 200, answer.text
    assert "_created" not in answer.text
    return answer.text


def has(text: str, name: str, labels: dict[str, str]) -> bool:
    """Whether ``text`` holds a sample ``name`` with ``labels`` (at any value, 0 included)."""
    return any(
        line.startswith((name + "{", name + " "))
        and all(f'{k}="{v}"' in line for k, v in labels.items())
        for line in text.splitlines()
    )


def test_a_datasets_publish_refusals_are_zero_until_the_first(hub: Hub) -> None:
    dataset = create_dataset(hub).removesuffix(".v1")
    path = f"{hub.gateway}/v1/datasets/{dataset}/events"
    written = httpx.post(path, json=READINGS, headers=hub.headers(), timeout=30)
    assert written.status_code == 201, written.text
    before = scrape(hub, "gateway")
    for reason in ("invalid", "too_large", "unavailable", "forbidden"):
        labels = {"dataset": dataset, "reason": reason}
        assert has(before, "ndxp_publish_rejected_total", labels), reason
        assert metric(before, "ndxp_publish_rejected_total", labels) == 0, reason
    refused = httpx.post(path, json=[{"station_code": 1}], headers=hub.headers(), timeout=30)
    assert refused.status_code == 422, refused.text
    after = scrape(hub, "gateway")
    invalid = {"dataset": dataset, "reason": "invalid"}
    assert metric(after, "ndxp_publish_rejected_total", invalid) == 1
    for limit in ("streams_per_agency", "pulls_per_replica", "subscriptions_per_agency"):
        assert has(after, "ndxp_gateway_limited_total", {"limit": limit}), limit


def notice(*fields: dict[str, str]) -> dict[str, str]:
    schema = {
        "type": "record",
        "name": "Notice",
        "namespace": "vn.gov.demo",
        "doc": "A notice.",
        "fields": list(fields),
    }
    return {"schema": json.dumps(schema)}


def test_registry_counts_subjects_schemas_registrations_and_refusals(hub: Hub) -> None:
    subject = f"metrics-{uuid.uuid4().hex[:10]}-value"
    code = {"name": "code", "type": "string", "doc": "The notice's code."}
    before = scrape(hub, "registry")
    for outcome in ("registered", "existing"):
        assert has(before, "ndxp_registry_registrations_total", {"outcome": outcome})
    assert has(before, "ndxp_registry_compatibility_refusals_total", {"level": "BACKWARD"})
    headers = {"Content-Type": V1} | hub.headers()
    with httpx.Client(base_url=hub.url("registry"), headers=headers, timeout=30) as registry:
        path = f"/subjects/{subject}/versions"
        assert registry.post(path, json=notice(code)).status_code == 200
        assert registry.post(path, json=notice(code)).status_code == 200  # the same: existing
        count = {"name": "count", "type": "int", "doc": "How many."}  # no default: incompatible
        refused = registry.post(path, json=notice(code, count))
        assert refused.status_code == 409, refused.text
    after = scrape(hub, "registry")

    def grew(name: str, labels: dict[str, str] | None = None) -> float:
        return metric(after, name, labels) - metric(before, name, labels)

    assert grew("ndxp_registry_subjects") == 1
    assert grew("ndxp_registry_schemas") == 1
    assert grew("ndxp_registry_registrations_total", {"outcome": "registered"}) == 1
    assert grew("ndxp_registry_registrations_total", {"outcome": "existing"}) == 1
    refusals = "ndxp_registry_compatibility_refusals_total"
    assert sum(grew(refusals, {"level": level.value}) for level in CompatibilityLevel) == 1


def test_identity_counts_tokens_issued_and_refused_and_ages_the_signing_key(hub: Hub) -> None:
    client = hub.demo_client()
    issued = {"agency": demo.AGENCY, "client": client["client_id"]}
    before = scrape(hub, "gateway")
    assert has(before, "ndxp_auth_token_refusals_total", {"reason": "invalid_client"})
    token = f"{hub.gateway}/oauth2/token"
    grant = {"grant_type": "client_credentials"}
    wrong = httpx.post(token, data=grant, auth=(client["client_id"], "not-it"), timeout=30)
    assert wrong.status_code == 401, wrong.text
    unknown = httpx.post(
        token,
        data={"grant_type": "password"},
        auth=(client["client_id"], client["client_secret"]),
        timeout=30,
    )
    assert unknown.status_code == 400, unknown.text
    hub.token()  # one more, of the demo client
    after = scrape(hub, "gateway")  # (its own token for the scrape counts once more)

    def grew(name: str, labels: dict[str, str]) -> float:
        return metric(after, name, labels) - metric(before, name, labels)

    assert grew("ndxp_auth_tokens_issued_total", issued) == 2
    assert grew("ndxp_auth_token_refusals_total", {"reason": "invalid_client"}) == 1
    assert grew("ndxp_auth_token_refusals_total", {"reason": "unsupported_grant_type"}) == 1
    age = metric(after, "ndxp_auth_signing_key_age_seconds")
    assert 0 < age < 24 * 3600  # the hub's key began signing when it started
    period = metric(after, "ndxp_auth_signing_key_rotation_period_seconds")
    assert period == 90 * 24 * 3600


def test_audit_counts_records_and_says_the_chain_is_intact(hub: Hub) -> None:
    issue = {"action": "token.issue"}
    before = scrape(hub, "gateway")
    hub.token()
    after = scrape(hub, "gateway")  # each scrape's token is audited too
    assert (
        metric(after, "ndxp_audit_records_total", issue)
        - metric(before, "ndxp_audit_records_total", issue)
        == 2
    )
    assert metric(after, "ndxp_audit_chain_intact") == 1  # checked when the gateway started
    assert metric(after, "ndxp_audit_chain_verified_timestamp_seconds") > 0
    assert has(after, "ndxp_audit_chain_verification_failures_total", {})  # at 0


async def test_a_connector_counts_its_records_by_outcome_and_its_restarts(
    hub: Hub, tmp_path: Path
) -> None:
    topic = create_dataset(hub)
    name, definition = file_connector(tmp_path, topic, hub.data_dir)
    applied = ndxp(
        "connect", "apply", str(definition), env=cli_env(hub, NDXP_CONNECT_URL=hub.url("connect"))
    )
    assert applied.returncode == 0, applied.stderr
    await read_topic(f"127.0.0.1:{hub.kafka_port}", topic, len(READINGS))

    def outcome(text: str, which: str) -> float:
        return metric(text, "ndxp_connector_records_total", {"connector": name, "outcome": which})

    deadline = time.monotonic() + 30
    while outcome(scraped := scrape(hub, "connect"), "written") != len(READINGS):
        assert time.monotonic() < deadline, scraped
        await asyncio.sleep(0.3)
    assert has(
        scraped, "ndxp_connector_records_total", {"connector": name, "outcome": "dead_lettered"}
    )
    requested = {"connector": name, "reason": "requested"}
    assert has(scraped, "ndxp_connector_restarts_total", requested)
    assert metric(scraped, "ndxp_connector_restarts_total", requested) == 0

    url = f"{hub.url('connect')}/connectors/{name}/restart"
    async with httpx.AsyncClient(headers=hub.headers(), timeout=30) as http:
        restarted = await http.post(url)
    assert restarted.status_code in (200, 202, 204), restarted.text
    while (
        metric(scraped := scrape(hub, "connect"), "ndxp_connector_restarts_total", requested) != 1
    ):
        assert time.monotonic() < deadline, scraped
        await asyncio.sleep(0.3)


def test_every_service_says_how_full_the_brokers_log_directory_is(hub: Hub) -> None:
    for service in ("registry", "gateway", "connect"):
        text = scrape(hub, service)
        labels = {"service": service, "broker": "1"}
        total = metric(text, "ndxp_kafka_log_dir_total_bytes", labels)
        usable = metric(text, "ndxp_kafka_log_dir_usable_bytes", labels)
        assert 0 < usable <= total, (service, usable, total)
