"""Push subscriptions end to end: a gateway, a token-requiring registry and a connect worker on one
control plane and Kafka, and a consumer's webhook endpoint. The consumer asks the gateway for a
push subscription; connect's ``webhook-sink`` (written to connect's configs topic by the gateway)
delivers exactly the granted fields, signed with the secret the gateway returned, until the
agreement is revoked or the subscription deleted."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from services.connectors.plugins.webhook import verify_signature
from services.core.config import AuthSettings, DatabaseSettings, KafkaSettings
from services.core.http.destinations import (
    LOOPBACK_NETWORKS,
    DestinationPolicy,
    DestinationSettings,
)
from services.core.kafka.producer_pool import ProducerPool
from services.core.local_kafka import free_port
from services.gateway.app import create_app as create_gateway
from services.gateway.deps import get_connect_configs
from services.gateway.subscriptions.push import (
    ConfigsWriter,
    ConnectConfigs,
    PushDestination,
    check_destination,
)
from services.registry.app import create_app as create_registry
from tests.fixtures.catalog import Hub
from tests.fixtures.gateway import Gateway, gateway_settings, serve_gateway
from tests.fixtures.registry import registry_settings
from tests.fixtures.servers import serve_app
from tests.integration.connect.conftest import Connect, connect_settings, until, wait_for_state
from tests.integration.connect.test_sinks import sink_lag
from tests.integration.connect.webhook_receiver import Receiver
from tests.integration.gateway.catalog_data import problem
from tests.integration.gateway.test_subscriptions import (
    GRANTED,
    Sharing,
    assert_key_order,
    call,
    lag_reaches,
    publish,
    revoke,
    sample,
    share,
)


@dataclass
class PushHub:
    hub: Hub
    connect: httpx.AsyncClient  # connect's REST API


@dataclass
class Endpoint:
    receiver: Receiver
    url: str


# --- the hub, with connect ------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def push_hub(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str
) -> AsyncIterator[PushHub]:
    """As the ``hub`` fixture, with connect's configs topic of its own (shared with nobody), and
    a connect worker following it, on the gateway's control plane and registry."""
    suffix = uuid.uuid4().hex[:12]
    data_dir = tmp_path_factory.mktemp("push-hub")
    registry_url = f"http://127.0.0.1:{free_port()}"
    settings = gateway_settings(data_dir, kafka_bootstrap, registry_url=registry_url)
    settings.connect_configs_topic = f"ndxp.connect-configs-{suffix}"
    # the test's endpoints listen on loopback: the gateway and the worker's sinks allow it
    settings.push = DestinationSettings(allowed_networks=list(LOOPBACK_NETWORKS))
    with serve_gateway(settings) as gateway, pytest.MonkeyPatch.context() as env:
        env.setenv("NDXP_PUSH_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128")
        registry = registry_settings(data_dir / "registry", kafka_bootstrap, settings.database_url)
        registry.auth = AuthSettings(issuer=gateway.issuer, require_tokens=True)
        with serve_app(create_registry(registry), port=int(registry_url.rsplit(":", 1)[1])):
            hub = Hub(gateway, registry_url)
            # connect's own client of the hub: its tokens read contracts at the registry
            worker = await hub.caller("catalog:read")
            connect = connect_settings(
                data_dir / "connect",
                kafka_bootstrap,
                registry_url,
                suffix,
                database=DatabaseSettings(url=SecretStr(settings.database_url)),
                token_url=f"{gateway.url}/oauth2/token",
                client_id=worker.client_id,
                client_secret=SecretStr(worker.secret),
                auth=AuthSettings(issuer=gateway.issuer, require_tokens=True),
            )
            assert connect.configs_topic == settings.connect_configs_topic
            operator = await hub.caller("admin")
            async with Connect(connect).serve() as http:
                http.headers.update(operator.headers)  # the tests' own calls: an operator's
                yield PushHub(hub, http)


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    """A consumer's webhook endpoint on loopback; its secret is set once the gateway gives it."""
    receiver = Receiver(secret="")
    with serve_app(receiver.app()) as server:
        yield Endpoint(receiver, f"{server.url}/hook")


# --- helpers --------------------------------------------------------------------------------------


async def only_the_consumer_sees_its_connector(
    push_hub: PushHub, sharing: Sharing, connector: str, secret: str
) -> None:
    """Connect's API shows a caller without ``admin`` only the connectors acting for its agency
    (the consumer's push connector), masked; to any other agency it is absent (404)."""
    paths = [f"/connectors/{connector}{tail}" for tail in ("", "/config", "/status", "/offsets")]
    consumer = {"Authorization": sharing.consumer.headers["Authorization"]}
    everyone = (await push_hub.connect.get("/connectors")).json()
    assert connector in everyone
    assert (await push_hub.connect.get("/connectors", headers=consumer)).json() == [connector]
    for path in paths:
        seen = await push_hub.connect.get(path, headers=consumer)
        assert seen.status_code == 200, (path, seen.text)
        assert secret not in seen.text
    provider = {"Authorization": sharing.provider.headers["Authorization"]}
    assert (await push_hub.connect.get("/connectors", headers=provider)).json() == []
    for path in paths:
        hidden = await push_hub.connect.get(path, headers=provider)
        assert hidden.status_code == 404, (path, hidden.text)
        assert hidden.json()["code"] == "connector_not_found"


async def subscribe_push(
    hub: Hub, sharing: Sharing, url: str, name: str | None = None, start: Any = "latest"
) -> httpx.Response:
    body = {
        "agreement": sharing.agreement["id"],
        "name": name or f"p-{uuid.uuid4().hex[:8]}",
        "start": start,
        "push": {"url": url},
    }
    return await call(hub, sharing.consumer, "POST", "/v1/subscriptions", body)


async def push_subscription(hub: Hub, sharing: Sharing, endpoint: Endpoint) -> dict[str, Any]:
    """A push subscription to ``endpoint`` from now on, the endpoint told its secret."""
    created = await subscribe_push(hub, sharing, endpoint.url)
    assert created.status_code == 201, created.text
    document: dict[str, Any] = created.json()
    endpoint.receiver.secret = document["push"]["secret"]
    return document


async def arrived(receiver: Receiver, count: int, within: float = 30) -> list[dict[str, Any]]:
    """The records the endpoint accepted, once there are ``count``."""
    async with asyncio.timeout(within):
        while len(receiver.records) < count:  # noqa: ASYNC110 - filled by the server's thread
            await asyncio.sleep(0.1)
    return receiver.records


async def connector_gone(connect: httpx.AsyncClient, name: str, within: float = 20) -> None:
    async with asyncio.timeout(within):
        while (await connect.get(f"/connectors/{name}/status")).status_code != 404:  # noqa: ASYNC110 - polls connect's HTTP API
            await asyncio.sleep(0.1)


async def audited_deliveries(
    hub: Hub, sharing: Sharing, count: int, within: float = 20
) -> list[dict[str, Any]]:
    """The agreement's ``deliver`` audit records, once they account for ``count`` records."""
    path = f"/v1/audit?agreement={sharing.agreement['id']}&action=deliver"
    async with asyncio.timeout(within):
        while True:
            answer = await call(hub, sharing.consumer, "GET", path)
            assert answer.status_code == 200, answer.text
            items: list[dict[str, Any]] = answer.json()["items"]
            if sum(item["record_count"] for item in items) >= count:
                return items
            await asyncio.sleep(0.2)


# --- the story ----------------------------------------------------------------------------------


async def test_push_delivers_the_granted_fields_signed(
    push_hub: PushHub, endpoint: Endpoint
) -> None:
    hub = push_hub.hub
    sharing = await share(hub)  # 20 records published before the subscription
    created = await push_subscription(hub, sharing, endpoint)
    sub, secret = created["id"], created["push"]["secret"]
    connector = f"push-{sub}"
    assert created["push"] == {"url": endpoint.url, "secret": secret, "connector": connector}
    assert len(secret) >= 40
    assert created["group_id"] == f"ndxp-connect-{connector}"

    # "latest": only what is published from now on, as a pull subscription would start.
    await publish(hub, sharing.provider, sharing.dataset, 10, first=20)
    records = await arrived(endpoint.receiver, 10)
    assert sorted(r["value"]["seq"] for r in records) == list(range(20, 30))
    assert all(set(r["value"]) == set(GRANTED) for r in records)  # no citizen_id, full_name
    assert_key_order(records)
    arrivals = endpoint.receiver.arrivals
    assert arrivals and all(a.signed for a in arrivals)
    assert all(verify_signature(secret, a.signature, a.body) for a in arrivals)
    assert not any(verify_signature("another secret", a.signature, a.body) for a in arrivals)

    # Later reads show where records go, never the secret.
    read = await call(hub, sharing.consumer, "GET", f"/v1/subscriptions/{sub}")
    assert read.status_code == 200, read.text
    assert read.json()["push"] == {"url": endpoint.url, "connector": connector}
    listed = (await call(hub, sharing.consumer, "GET", "/v1/subscriptions")).json()
    assert [s["push"] for s in listed["subscriptions"]] == [read.json()["push"]]
    assert secret not in read.text + str(listed)
    status = await wait_for_state(push_hub.connect, connector, "RUNNING")
    assert status["type"] == "sink"
    shown = (await push_hub.connect.get(f"/connectors/{connector}/config")).json()
    assert shown["agreement"] == sharing.agreement["id"] and secret not in str(shown)
    assert shown["consumer"] == sharing.consumer.agency
    await only_the_consumer_sees_its_connector(push_hub, sharing, connector, secret)

    # Its records go to the endpoint: pulls, streams, acks and resets are refused.
    async with hub.http(sharing.consumer) as http:
        base = f"/v1/subscriptions/{sub}"
        problem(await http.get(f"{base}/events", params={"wait": 0}), 409, "push_subscription")
        problem(await http.get(f"{base}/stream"), 409, "push_subscription")
        problem(await http.post(f"{base}/ack", json={"cursor": "x"}), 409, "push_subscription")
        reset = await http.post(f"{base}/reset", json={"start": "earliest"})
        problem(reset, 409, "push_subscription")

    # Audited as deliveries by the connector, as pulls are by the gateway.
    delivered = await audited_deliveries(hub, sharing, 10)
    assert sum(event["record_count"] for event in delivered) == 10
    for event in delivered:
        assert event["details"] == {"channel": "connector", "connector": connector}
        assert event["actor_client"] == f"connector:{connector}"
        assert (event["provider_agency"], event["consumer_agency"]) == (
            sharing.provider.agency,
            sharing.consumer.agency,
        )
    # Each delivered record's latency, publication to the endpoint, by consumer and dataset.
    scraper = await hub.caller("metrics:read")
    metrics = (await push_hub.connect.get("/metrics", headers=scraper.headers)).text
    latency = {"consumer": sharing.consumer.agency, "dataset": sharing.dataset,
               "channel": "connector"}  # fmt: skip
    assert sample(metrics, "ndxp_delivery_lag_seconds_count", latency) == 10
    path = f"/v1/audit?agreement={sharing.agreement['id']}&action=subscription.create"
    [audited] = (await call(hub, sharing.consumer, "GET", path)).json()["items"]
    assert audited["details"]["push"] == {"url": endpoint.url, "connector": connector}
    assert secret not in str(audited)


async def test_revoking_the_agreement_fails_the_connector(
    push_hub: PushHub, endpoint: Endpoint
) -> None:
    hub = push_hub.hub
    sharing = await share(hub, partitions=1)
    sub = (await push_subscription(hub, sharing, endpoint))["id"]
    await publish(hub, sharing.provider, sharing.dataset, 3, first=20)
    assert len(await arrived(endpoint.receiver, 3)) == 3

    await revoke(hub, sharing.provider, sharing.agreement["id"])
    await publish(hub, sharing.provider, sharing.dataset, 3, first=23)
    status = await wait_for_state(push_hub.connect, f"push-{sub}", "FAILED")
    trace = status["connector"]["trace"]
    assert sharing.agreement["id"] in trace and "revoked" in trace
    # FAILED before the batch was delivered: the connector has stopped, nothing came after.
    assert sorted(r["value"]["seq"] for r in endpoint.receiver.records) == [20, 21, 22]
    # Three records behind, as the gateway measures the subscription and connect its sink.
    labels = {"consumer": sharing.consumer.agency, "dataset": sharing.dataset}
    await lag_reaches(hub, {**labels, "subscription": sub, "kind": "push"}, 3)
    scraper = await hub.caller("metrics:read")

    async def sink_three_behind() -> bool:
        metrics = await push_hub.connect.get("/metrics", headers=scraper.headers)
        assert metrics.status_code == 200, metrics.text
        return sink_lag(metrics.text, {**labels, "connector": f"push-{sub}"}) == 3

    await until(sink_three_behind, 10, "the sink's lag of 3 records")


async def test_deleting_the_subscription_removes_its_connector(
    push_hub: PushHub, endpoint: Endpoint
) -> None:
    hub = push_hub.hub
    sharing = await share(hub, partitions=1)
    sub = (await push_subscription(hub, sharing, endpoint))["id"]
    connector = f"push-{sub}"
    await publish(hub, sharing.provider, sharing.dataset, 1, first=20)
    await arrived(endpoint.receiver, 1)  # delivering: not merely starting

    deleted = await call(hub, sharing.consumer, "DELETE", f"/v1/subscriptions/{sub}")
    assert deleted.status_code == 204, deleted.text
    await connector_gone(push_hub.connect, connector)
    gone = await call(hub, sharing.consumer, "GET", f"/v1/subscriptions/{sub}")
    problem(gone, 404, "subscription_not_found")


async def test_push_urls_must_be_https_unless_loopback(push_hub: PushHub) -> None:
    hub = push_hub.hub
    sharing = await share(hub, partitions=1)
    said = {
        "http://consumer.example.vn/hook": "must be https: http is allowed only to a loopback host",
        "ftp://127.0.0.1/hook": "must be an absolute https:// URL",
        "/hook": "must be an absolute https:// URL",
        # connect resolves ${env:NAME} in configs: a consumer must not read the workers' secrets
        "https://consumer.example.vn/hook?leak=${env:NDXP_DATABASE_URL}": "must not contain '$'",
        "https://consumer.example.vn/ho ok": "must not contain spaces or control characters",
    }
    for url, reason in said.items():
        refused = await subscribe_push(hub, sharing, url)
        [error] = problem(refused, 422, "invalid_request")["errors"]
        assert error["loc"] == ["body", "push", "url"]
        assert reason in error["message"]
    listed = await call(hub, sharing.consumer, "GET", "/v1/subscriptions")
    assert listed.json() == {"subscriptions": []}


async def test_push_endpoints_on_the_workers_host_are_refused_unless_allowed(
    push_hub: PushHub, unwritable: Gateway
) -> None:
    # ``unwritable`` allows loopback (its connect configs' policy), never link-local addresses
    # (cloud metadata) nor the unspecified one, however spelt, whatever its Kafka does: the check
    # comes before anything is written. Every spelling of loopback is refused by the default.
    sharing = await share(push_hub.hub, partitions=1)
    async with unwritable.client(headers=sharing.consumer.headers) as http:
        for url in (
            "https://169.254.169.254/latest",
            "https://[::]/x",
            "https://0/x",
            "https://[::ffff:169.254.169.254]/x",
        ):
            body = {"agreement": sharing.agreement["id"], "name": "p", "push": {"url": url}}
            refused = await http.post("/v1/subscriptions", json=body)
            assert problem(refused, 422, "push_destination_refused")
    allowed = DestinationPolicy(LOOPBACK_NETWORKS)
    assert check_destination("http://127.0.0.1:9/x", allowed) is None
    for url in (
        "http://localhost:9/x",
        "https://localhost./x",
        "https://127.1/x",
        "https://2130706433/x",
        "https://0x7f000001/x",
        "https://0177.1/x",
        "https://[::ffff:127.0.0.1]/x",
    ):
        with pytest.raises(PushDestination, match="loopback"):
            check_destination(url, DestinationPolicy())


# --- Kafka down for the connector's write ---------------------------------------------------------


@pytest.fixture
def unwritable(push_hub: PushHub, tmp_path: Path, kafka_bootstrap: str) -> Iterator[Gateway]:
    """Another gateway on the hub's control plane, Kafka and registry, for which connect's
    configs topic lives on a Kafka that does not answer (nothing listens on its port)."""
    settings = push_hub.hub.gateway.settings
    kek = settings.auth.key_encryption_key
    assert kek is not None
    other = gateway_settings(
        tmp_path,
        kafka_bootstrap,
        database_url=settings.database_url,
        registry_url=push_hub.hub.registry_url,
        key_encryption_key=kek.get_secret_value(),
        issuer=settings.auth.issuer,
    )
    down = f"127.0.0.1:{free_port()}"

    def configs_on_a_dead_kafka() -> ConfigsWriter:
        kafka = KafkaSettings(bootstrap=down, request_timeout_ms=2_000)
        pool = ProducerPool(kafka, down, 1)
        loopback = DestinationPolicy(LOOPBACK_NETWORKS)
        return ConnectConfigs(pool, kafka, down, "configs", timeout=3.0, policy=loopback)

    app = create_gateway(other)
    app.dependency_overrides[get_connect_configs] = configs_on_a_dead_kafka
    with serve_app(app, port=other.port) as server:
        yield Gateway(server.url, other)


async def test_a_connector_kafka_did_not_take_leaves_no_subscription(
    push_hub: PushHub, unwritable: Gateway, endpoint: Endpoint
) -> None:
    hub = push_hub.hub
    sharing = await share(hub, partitions=1)
    body = {
        "agreement": sharing.agreement["id"],
        "name": "pushed",
        "push": {"url": endpoint.url},
    }
    async with unwritable.client(headers=sharing.consumer.headers) as http:
        refused = await http.post("/v1/subscriptions", json=body)
        detail = problem(refused, 503, "unavailable")["detail"]
        assert "Kafka" in detail, detail
        assert int(refused.headers["retry-after"]) > 0
        assert (await http.get("/v1/subscriptions")).json() == {"subscriptions": []}
    # Nothing partial: the name is free, and nothing was audited as created.
    del body["push"]
    again = await call(hub, sharing.consumer, "POST", "/v1/subscriptions", body)
    assert again.status_code == 201, again.text
    path = f"/v1/audit?agreement={sharing.agreement['id']}&action=subscription.create"
    created = (await call(hub, sharing.consumer, "GET", path)).json()["items"]
    assert [event["details"]["subscription"] for event in created] == [again.json()["id"]]
