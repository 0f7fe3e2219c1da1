"""Monitoring a hub from ``ndxp up`` (tokens required, SQLite, its own broker): the broker's JMX
exporter on the port broker.json names, what each service sees of the cluster without anyone
calling /readyz, a real Prometheus (``ndxp monitor``, Debian's package) scraping every target,
every Grafana panel's query and every recording rule answering on that Prometheus once traffic
went through every path of the hub, and the broker stalled (SIGSTOP) and resumed as those series
tell it; a subscription nobody reads measured in the background, in records, until its
stalled-subscription alert is pending on ``ndxp monitor``'s Prometheus and firing on one whose copy
of the rule waits 2 s instead of 45 minutes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from services.core.local_kafka import free_port
from services.hub.dashboards.build import DASHBOARDS_DIR
from services.hub.monitor import RULES_DIR, prometheus_argv, service_job, write_config
from tests.fixtures.hub import SERVICES, Hub, descendants, running_hub
from tests.fixtures.reader import DATASET, Reader, open_reader
from tests.fixtures.traffic import Traffic, every_path

DEMO_TOPIC = "demo.air-quality.v1"
WATCH_INTERVAL = 1  # seconds; production's is 15
LAG_INTERVAL = 1  # seconds; production's is 15
SINK_LAG = "ndxp_connector_sink_lag_records"
UP_ALERTS = {"NdxpTargetDown", "NdxpKafkaUnreachable"}
JOBS = {"prometheus", "kafka-broker", *(f"ndxp-{name}" for name in SERVICES)}
# Grafana's own variables, as Grafana would fill them for the last hour at 1 s scrapes.
GRAFANA_VARIABLES = {"__rate_interval": "1m", "__range": "1h"}
# Panel queries whose series appear only on an event the traffic cannot make; each reason says
# which. Every other panel query must return something.
ALLOWED_EMPTY = {
    "sum by (limit) (rate(ndxp_gateway_limited_total[$__rate_interval]))":
        "a delivery limit's first 429 creates the series: the traffic stays under the limits",
    'max by (connector) (ndxp_connector_source_lag_records{connector=~"$connector"})':
        "the traffic's source is a file-source, which cannot tell its backlog (sql-source can: "
        "tests/integration/connect/test_sql_source.py)",
    "sum by (reason) (increase(ndxp_producer_recycles_total[$__range]))":
        "a producer is recycled only after Kafka made it unusable (fenced, timed out)",
}  # fmt: skip

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    env = {
        "NDXP_KAFKA_WATCH_INTERVAL": str(WATCH_INTERVAL),
        "NDXP_KAFKA_LAG_INTERVAL": str(LAG_INTERVAL),
        "NDXP_PUSH_ALLOWED_NETWORKS": "127.0.0.0/8",  # the traffic's webhook is on loopback
    }
    with running_hub(tmp_path_factory.mktemp("monitored"), env) as running:
        yield running


@dataclass(frozen=True)
class Monitoring:
    """``ndxp monitor`` running against the module's hub: its Prometheus and Alertmanager."""

    process: subprocess.Popen[bytes]
    prometheus: str  # base URL
    alertmanager: str  # host:port
    log: Path
    stalled: Reader  # a subscription nobody reads, 150 records behind before the first scrape


@pytest.fixture(scope="module")
def monitoring(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Monitoring]:
    """``ndxp monitor`` (scraping every second) until every job's target is up; stopped with
    SIGTERM afterwards, which must end it (0) and everything it started."""
    stalled = open_reader(hub)  # nobody reads it: 150 records behind from the first scrape on
    publish(hub, 150)
    lag_reaches(hub, stalled, 150)
    port = free_port()
    alertmanager = f"127.0.0.1:{free_port()}"
    argv = [sys.executable, "-m", "services.cli", "monitor", "--port", str(port)]
    argv += ["--alertmanager-port", alertmanager.rsplit(":", 1)[1]]
    argv += ["--scrape-interval", "1s", "--gateway", hub.gateway]
    log = tmp_path_factory.mktemp("monitor") / "monitor.log"
    with log.open("wb") as out:
        process = subprocess.Popen(argv, env=hub.env, stdout=out, stderr=subprocess.STDOUT)
    running = Monitoring(process, f"http://127.0.0.1:{port}", alertmanager, log, stalled)
    try:
        wait_all_up(running)
        family = descendants(process.pid)
        yield running
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(30)
    assert code == 0, log.read_text()
    assert not [pid for pid in family if Path(f"/proc/{pid}").exists()]


def wait_all_up(monitoring: Monitoring) -> None:
    """Until Prometheus scrapes one target of every job, all up."""
    deadline = time.monotonic() + 60
    while True:
        assert monitoring.process.poll() is None, monitoring.log.read_text()
        try:  # Prometheus answers 503 to queries until it is ready
            ready = httpx.get(f"{monitoring.prometheus}/-/ready", timeout=10).status_code == 200
            up = query(monitoring.prometheus, "up") if ready else []
        except httpx.TransportError:
            up = []
        if {row["metric"]["job"] for row in up} == JOBS and all(
            row["value"][1] == "1" for row in up
        ):
            return
        assert time.monotonic() < deadline, (up, monitoring.log.read_text())
        time.sleep(0.5)


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(url: str, headers: dict[str, str] | None = None) -> Samples:
    answer = httpx.get(f"{url}/metrics", headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    return parse(answer.text)


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def broker_info(hub: Hub) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((hub.data_dir / "kafka" / "broker.json").read_text())
    return found


def publish(hub: Hub, count: int) -> None:
    value = {"station_code": "HN-01", "province_code": 1, "pm25": 12.5, "aqi": 40}
    batch = [
        {"event_id": f"mon-{time.time_ns()}-{i}", "value": {**value, "measured_at": i}}
        for i in range(count)
    ]
    answer = httpx.post(
        f"{hub.gateway}/v1/datasets/demo.air-quality/events",
        json=batch,
        headers=hub.headers("publish"),
        timeout=30,
    )
    assert answer.status_code == 201, answer.text


def test_the_broker_exports_its_metrics_on_the_recorded_port(hub: Hub) -> None:
    found = broker_info(hub)
    assert found["jmx_port"] == int(hub.env["NDXP_KAFKA_JMX_PORT"])
    metrics_url = f"http://127.0.0.1:{found['jmx_port']}"
    assert f"{metrics_url}/metrics" in hub.log  # ndxp up says where
    publish(hub, 20)

    samples = scrape(metrics_url)

    assert value(samples, "kafka_server_replicamanager_underreplicatedpartitions") == 0
    assert value(samples, "kafka_controller_kafkacontroller_activecontrollercount") == 1
    bytes_in = value(samples, "kafka_server_brokertopicmetrics_bytesin_total", topic=DEMO_TOPIC)
    assert bytes_in is not None
    assert bytes_in > 20 * 20  # 20 Avro records of 20 bytes and more, with their headers


def test_every_service_sees_the_cluster_without_being_asked(hub: Hub) -> None:
    headers = hub.headers("metrics:read")
    for name in SERVICES:
        samples = scrape(hub.url(name), headers)
        assert value(samples, "ndxp_kafka_up", service=name) == 1, name
        assert value(samples, "ndxp_kafka_brokers", service=name) == 1, name
        for series in ("under_replicated", "offline"):
            metric = f"ndxp_kafka_{series}_partitions"
            assert value(samples, metric, service=name, topic=DEMO_TOPIC) == 0, (name, metric)
            # only ndxp's topics: the broker's own (__consumer_offsets, ...) are not named
            topics = {dict(labels)["topic"] for got, labels in samples if got == metric}
            assert topics
            assert all(topic.startswith("ndxp.") or topic.count(".") == 2 for topic in topics)
        assert value(samples, "ndxp_ready", service=name) == 1, name
        assert not [got for got, _ in samples if got.endswith("_created")], name


def subscription_lag(hub: Hub, reader: Reader) -> dict[frozenset[tuple[str, str]], float]:
    """The gateway's ``ndxp_subscription_lag_records`` series of the reader's subscription."""
    samples = scrape(hub.gateway, hub.headers("metrics:read"))
    return {
        labels: found
        for (name, labels), found in samples.items()
        if name == "ndxp_subscription_lag_records"
        and dict(labels)["subscription"] == reader.subscription
    }


def lag_reaches(hub: Hub, reader: Reader, wanted: float, within: float = 15) -> float:
    """Seconds until the reader's subscription is ``wanted`` records behind, by the gateway's
    metrics (one series: one replica measures)."""
    started = time.monotonic()
    while True:
        series = subscription_lag(hub, reader)
        if list(series.values()) == [wanted]:
            return time.monotonic() - started
        assert time.monotonic() - started < within, series
        time.sleep(0.2)


def test_a_subscription_nobody_reads_shows_its_records_behind(hub: Hub) -> None:
    reader = open_reader(hub)  # from the latest record on
    publish(hub, 700)
    publish(hub, 16)  # 716 records, and a commit marker after each batch: 718 offsets

    took = lag_reaches(hub, reader, 716)

    (labels,) = subscription_lag(hub, reader)
    assert dict(labels) == {
        "consumer": dict(labels)["consumer"],
        "dataset": DATASET,
        "subscription": reader.subscription,
        "kind": "pull",
    }
    assert dict(labels)["consumer"].startswith("reader-")
    path = f"/v1/subscriptions/{reader.subscription}"
    received = 0
    with httpx.Client(base_url=hub.gateway, headers=reader.headers, timeout=30) as http:
        while received < 716:
            batch = http.get(f"{path}/events", params={"max": 500, "wait": 2}).json()
            received += len(batch["records"])
            assert http.post(f"{path}/ack", json={"cursor": batch["cursor"]}).status_code == 200
    caught_up = lag_reaches(hub, reader, 0)
    print(f"716 behind seen after {took:.1f} s, caught up after {caught_up:.1f} s")  # noqa: T201 - the figures


def test_a_sink_that_delivers_nothing_is_the_whole_dataset_behind(hub: Hub) -> None:
    name = f"lagging-{uuid.uuid4().hex[:8]}"
    config = {
        "connector.class": "webhook-sink",
        "dataset": DATASET,
        "start": "earliest",
        "url": f"http://127.0.0.1:{free_port()}/hook",  # nobody there: nothing is delivered
        "secret": uuid.uuid4().hex * 2,
    }
    connect = hub.url("connect")
    created = httpx.post(
        f"{connect}/connectors", json={"name": name, "config": config}, headers=hub.headers()
    )
    assert created.status_code == 201, created.text
    catalog = httpx.get(
        f"{hub.gateway}/v1/catalog/{DATASET}", headers=hub.headers("catalog:read"), timeout=30
    )
    volume = catalog.json()["metrics"]["records"]  # events, as the sink's lag counts them
    assert volume >= 20 + 716
    labels = {"connector": name, "consumer": "", "dataset": DATASET}
    deadline = time.monotonic() + 15
    while True:
        behind = value(scrape(connect, hub.headers("metrics:read")), SINK_LAG, **labels)
        if behind == volume:
            break
        assert time.monotonic() < deadline, (behind, volume)
        time.sleep(0.2)
    deleted = httpx.delete(f"{connect}/connectors/{name}", headers=hub.headers(), timeout=30)
    assert deleted.status_code == 204, deleted.text


def query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    """An instant query through Prometheus's HTTP API: its result vector."""
    answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def assert_rules_and_alertmanager(prometheus: str, alertmanager: str) -> None:
    """Every group of deploy/monitoring/rules/ loaded and evaluated without error on this hub's
    series, and alerts going to the Alertmanager ``ndxp monitor`` started."""
    shipped = {
        group["name"]
        for path in RULES_DIR.glob("*.yml")
        for group in yaml.safe_load(path.read_text())["groups"]
    }
    deadline = time.monotonic() + 30
    while True:
        groups = httpx.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        evaluated = rules and all(rule["lastEvaluation"] > "2000" for rule in rules)
        managers = httpx.get(f"{prometheus}/api/v1/alertmanagers", timeout=10).json()["data"]
        if evaluated and managers["activeAlertmanagers"]:
            break
        assert time.monotonic() < deadline, (groups, managers)
        time.sleep(0.5)
    assert {group["name"] for group in groups} == shipped
    assert [rule for rule in rules if rule["health"] != "ok"] == []
    assert [m["url"] for m in managers["activeAlertmanagers"]] == [
        f"http://{alertmanager}/api/v2/alerts"
    ]
    status = httpx.get(f"http://{alertmanager}/api/v2/status", timeout=10)
    assert status.status_code == 200, status.text
    assert status.json()["cluster"]["status"] == "disabled"
    # Every part is up and reachable: nothing about them fires.
    firing = query(prometheus, 'ALERTS{alertstate="firing"}')
    assert not [a for a in firing if a["metric"]["alertname"] in UP_ALERTS], firing


def assert_stalled_alert_pending(prometheus: str, stalled: Reader) -> None:
    """The shipped NdxpSubscriptionStalled rule holds for the stalled subscription: its lag is
    past 100 and has not changed since first scraped. It fires after 45 minutes (``for``), which
    its promtool test covers; here it is pending, on the true lag."""
    deadline = time.monotonic() + 30
    while True:
        alerts = query(prometheus, 'ALERTS{alertname="NdxpSubscriptionStalled"}')
        mine = [a for a in alerts if a["metric"]["subscription"] == stalled.subscription]
        if mine:
            break
        assert time.monotonic() < deadline, alerts
        time.sleep(0.5)
    assert mine[0]["metric"]["alertstate"] == "pending"
    assert mine[0]["metric"]["dataset"] == DATASET
    lag = query(
        prometheus, f'ndxp_subscription_lag_records{{subscription="{stalled.subscription}"}}'
    )
    assert [row["value"][1] for row in lag] == ["150"]


def shortened_for(rules_dir: Path, alert: str, duration: str) -> None:
    """Rewrite ``alert``'s ``for`` in the rule files of ``rules_dir``; nothing else changes."""
    for path in rules_dir.glob("*.yml"):
        document = yaml.safe_load(path.read_text())
        found = [rule for group in document["groups"] for rule in group["rules"]
                 if rule.get("alert") == alert]  # fmt: skip
        for rule in found:
            rule["for"] = duration
        if found:
            path.write_text(yaml.safe_dump(document, sort_keys=False))


def test_the_stalled_subscription_alert_fires_on_the_true_lag(
    hub: Hub, monitoring: Monitoring, tmp_path: Path
) -> None:
    """The shipped NdxpSubscriptionStalled expression, evaluated by a real Prometheus on the
    gateway's real series, fires for the subscription nobody reads: a Prometheus of this test's
    own scrapes the gateway with the shipped rules, the alert's ``for`` (45 minutes, covered by
    its promtool test) shortened to 2 s — its expression and labels as shipped."""
    port = free_port()
    gateway = hub.gateway.removeprefix("http://")
    config = write_config(tmp_path / "prometheus", {service_job("gateway"): [gateway]},
                          hub.token("metrics:read"), scrape_interval="1s")  # fmt: skip
    shortened_for(config.parent / "rules", "NdxpSubscriptionStalled", "2s")
    prometheus = f"http://127.0.0.1:{port}"
    log = (tmp_path / "prometheus.log").open("wb")
    process = subprocess.Popen(
        prometheus_argv("prometheus", config, port), stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "prometheus.log").read_text()
            try:
                ready = httpx.get(f"{prometheus}/-/ready", timeout=10).status_code == 200
                alerts = (
                    query(prometheus, 'ALERTS{alertname="NdxpSubscriptionStalled"}')
                    if ready
                    else []
                )
            except httpx.TransportError:
                alerts = []
            mine = [a["metric"] for a in alerts
                    if a["metric"]["subscription"] == monitoring.stalled.subscription]  # fmt: skip
            if mine and mine[0]["alertstate"] == "firing":
                break
            assert time.monotonic() < deadline, alerts
            time.sleep(0.5)
    finally:
        process.terminate()
        process.wait(30)
        log.close()
    assert mine[0]["dataset"] == DATASET
    assert mine[0]["severity"] == "warning"


def dashboards() -> list[dict[str, Any]]:
    """The committed dashboards, as Grafana loads them."""
    return [json.loads(path.read_text()) for path in sorted(DASHBOARDS_DIR.glob("*.json"))]


def panel_queries() -> list[tuple[str, str]]:
    """(dashboard / panel title, expression) of every query of every panel."""
    return [
        (f"{board['title']} / {panel['title']}", target["expr"])
        for board in dashboards()
        for panel in board["panels"]
        for target in panel.get("targets", [])
    ]


def recording_rules() -> set[str]:
    """The name of every recording rule in deploy/monitoring/rules/."""
    return {
        rule["record"]
        for path in RULES_DIR.glob("*.yml")
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "record" in rule
    }


def variable_values(prometheus: str, traffic: Traffic) -> dict[str, str]:
    """A value for every dashboard variable: the traffic's dataset, consumer and connector, the
    broker Prometheus found; each among what the variable's own query lists."""
    chosen = {"dataset": traffic.dataset, "consumer": traffic.consumer,
              "connector": traffic.connector}  # fmt: skip
    for board in dashboards():
        for variable in board["templating"]["list"]:
            if variable["type"] != "query":
                continue
            found = re.fullmatch(r"label_values\((\w+), (\w+)\)", variable["query"])
            assert found, variable["query"]
            metric, label = found.groups()
            listed = label_values(prometheus, metric, label)
            chosen.setdefault(variable["name"], listed[0] if listed else "")
            assert chosen[variable["name"]] in listed, (board["title"], variable, listed)
    return chosen | GRAFANA_VARIABLES


def label_values(prometheus: str, metric: str, label: str) -> list[str]:
    deadline = time.monotonic() + 60
    while True:
        answer = httpx.get(
            f"{prometheus}/api/v1/label/{label}/values", params={"match[]": metric}, timeout=10
        )
        assert answer.status_code == 200, answer.text
        listed: list[str] = answer.json()["data"]
        if listed or time.monotonic() > deadline:
            return listed
        time.sleep(0.5)


def substitute(expr: str, values: dict[str, str]) -> str:
    """``expr`` with each ``$name`` replaced by its value (a name without one fails)."""
    return re.sub(r"\$(\w+)", lambda found: values[found.group(1)], expr)


def answers_eventually(
    prometheus: str, expressions: set[str], within: float = 60
) -> dict[str, Any]:
    """Query each expression until all return a non-empty result; those that never did, with
    their last answer (an error, or the empty result)."""
    pending: dict[str, Any] = dict.fromkeys(expressions)
    deadline = time.monotonic() + within
    while pending and time.monotonic() < deadline:
        for expr in list(pending):
            answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10)
            body = answer.json()
            if body["status"] == "success" and body["data"]["result"]:
                del pending[expr]
            else:
                pending[expr] = body
        time.sleep(1)
    return pending


def active_targets(prometheus: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{prometheus}/api/v1/targets", timeout=10).json()
    targets: list[dict[str, Any]] = answer["data"]["activeTargets"]
    return targets


def test_prometheus_scrapes_every_part_of_the_hub(monitoring: Monitoring) -> None:
    prometheus = monitoring.prometheus
    up = query(prometheus, "up")
    assert len(up) == len(JOBS)  # one instance each, named host:port
    assert all(row["metric"]["instance"].startswith("127.0.0.1:") for row in up)
    deadline = time.monotonic() + 30  # a scrape may time out (1 s) on a loaded machine: the next
    while down := [t for t in active_targets(prometheus) if t["health"] != "up"]:
        assert time.monotonic() < deadline, down
        time.sleep(0.5)
    seen = query(prometheus, "ndxp_kafka_up")
    assert {row["metric"]["service"] for row in seen} == set(SERVICES)
    assert all(row["value"][1] == "1" for row in seen)
    # the exporter's first scrapes may come before the broker registered that bean
    expr = "kafka_server_replicamanager_underreplicatedpartitions"
    assert answers_eventually(prometheus, {expr}, within=30) == {}
    assert [row["value"][1] for row in query(prometheus, expr)] == ["0"]
    assert_rules_and_alertmanager(prometheus, monitoring.alertmanager)
    assert_stalled_alert_pending(prometheus, monitoring.stalled)
    family = descendants(monitoring.process.pid)
    assert any("prometheus" in command for command in family.values()), family
    assert any("alertmanager" in command for command in family.values()), family


def test_every_dashboard_query_and_recording_rule_answers(
    hub: Hub, monitoring: Monitoring, tmp_path: Path
) -> None:
    queries, rules = panel_queries(), recording_rules()
    assert not set(ALLOWED_EMPTY) - {expr for _, expr in queries}, "allowed empty, never asked"
    with every_path(hub, tmp_path) as traffic:
        values = variable_values(monitoring.prometheus, traffic)
        where = {
            substitute(expr, values): panel for panel, expr in queries if expr not in ALLOWED_EMPTY
        }
        where |= dict.fromkeys(rules, "recording rule")
        pending = answers_eventually(monitoring.prometheus, set(where))
    assert {f"{where[expr]}: {expr}": answer for expr, answer in pending.items()} == {}
    print(f"{len(queries)} panel queries and {len(rules)} recording rules answered")  # noqa: T201


@pytest.mark.faults  # stops the hub's broker: `make test-faults`
def test_a_stalled_broker_shows_as_down_and_back(hub: Hub) -> None:
    headers = hub.headers("metrics:read")  # before the stall: issuing one is audited to Kafka
    broker = found_pid = broker_info(hub)["pid"]
    assert "kafka.Kafka" in hub.children()[found_pid]

    def seen(up: float, within: float) -> float:
        """Seconds until every service reports ``ndxp_kafka_up`` and ``ndxp_ready`` == up."""
        started = time.monotonic()
        while True:
            scraped = {name: scrape(hub.url(name), headers) for name in SERVICES}
            if all(
                value(samples, "ndxp_kafka_up", service=name) == up
                and value(samples, "ndxp_ready", service=name) == up
                and value(samples, "ndxp_kafka_brokers", service=name) == up  # one broker
                for name, samples in scraped.items()
            ):
                return time.monotonic() - started
            assert time.monotonic() - started < within, scraped
            time.sleep(0.2)

    os.kill(broker, signal.SIGSTOP)
    try:
        # a look times out after 5 s; readiness's own Kafka check after 5 s more
        went = seen(0, within=30)
        # no series of a topic whose state is unknown
        samples = scrape(hub.gateway, headers)
        assert value(samples, "ndxp_kafka_offline_partitions", service="gateway",
                     topic=DEMO_TOPIC) is None  # fmt: skip
    finally:
        os.kill(broker, signal.SIGCONT)
    back = seen(1, within=30)
    print(f"down seen after {went:.1f} s, back after {back:.1f} s")  # noqa: T201 - the figures
    samples = scrape(hub.gateway, headers)
    assert value(samples, "ndxp_kafka_offline_partitions", service="gateway", topic=DEMO_TOPIC) == 0
    assert Path(f"/proc/{broker}").exists()  # the same broker: stalled, never restarted
