"""The dashboards, panel by panel: one line adds a panel (``panel(...)`` or ``stat(...)``).

Built on the series ndxp's services export (``services/core/metrics.py``,
``services/core/sharing/metrics.py``, ``services/connectors/metrics.py``, ...), the broker's JMX
exporter (``deploy/monitoring/jmx/kafka-broker.yml``) and the recording rules of
``deploy/monitoring/rules/ndxp-recording.yml``, which are preferred wherever one exists. No job
name, host or port is written: ndxp's series are told apart by their ``service`` label, the
broker's are picked by ``instance``, so the boards read the same under any scrape configuration.

Grafana's own variables appear as they do in Grafana (``$__rate_interval``, ``$__range``); every
query is run through a real Prometheus by tests/e2e/test_up_monitoring.py.
"""

from __future__ import annotations

from typing import Final

from services.hub.dashboards.model import Board, Query, Row, Variable, panel, stat

RATE: Final = "$__rate_interval"
RANGE: Final = "$__range"
ISSUING: Final = 'service="gateway",route="/oauth2/token"'  # the token endpoint's series
TOPIC_OF_DATASET: Final = 'topic=~"$dataset[.]v[0-9]+"'  # one topic per major version


def sum_rate(selector: str, by: str = "") -> str:
    """Per-second rate of the counters ``selector`` picks, summed ``by`` labels."""
    total = f"sum by ({by})" if by else "sum"
    return f"{total} (rate({selector}[{RATE}]))"


def sum_increase(selector: str, by: str) -> str:
    """How much the counters ``selector`` picks grew over the dashboard's time range."""
    return f"sum by ({by}) (increase({selector}[{RANGE}]))"


def share(part: str, whole: str, by: str = "") -> str:
    """The share of ``whole``'s rate that ``part``'s is (two counter selectors, summed ``by``
    labels): 0 rather than no data while ``part`` has no series (a counter labelled by status
    appears with its first refusal)."""
    whole_rate = sum_rate(whole, by)
    return f"({sum_rate(part, by)} or {whole_rate} * 0) / {whole_rate}"


OVERVIEW: Final = Board(
    uid="ndxp-overview",
    title="ndxp / Hub overview",
    description="Who shares what with whom, how fast, and what fails.",
    rows=(
        Row("Now", (
            stat("Events published /s", "sum(provider_dataset:ndxp_events_published:rate5m)",
                 unit="ops"),
            stat("Events delivered /s", "sum(channel:ndxp_events_delivered:rate5m)", unit="ops"),
            stat("Publishes answered 5xx", "max(job:ndxp_publish_errors:ratio_rate5m)",
                 unit="percentunit"),
            stat("Scrape targets down", "sum(up == bool 0)",
                 description="Every job Prometheus scrapes: the services, the brokers, itself."),
        )),
        Row("Who shares with whom", (
            panel("Events delivered /s, provider → consumer",
                  "provider_consumer:ndxp_events_delivered:rate5m",
                  legend="{{provider}} → {{consumer}}", unit="ops"),
            panel("Bytes delivered /s, provider → consumer",
                  "sum by (provider, consumer) "
                  "(provider_consumer_dataset:ndxp_delivered_bytes:rate5m)",
                  legend="{{provider}} → {{consumer}}", unit="Bps"),
            panel("Events shared in the time range, provider → consumer → dataset",
                  sum_increase("ndxp_events_delivered_total", "provider, consumer, dataset"),
                  kind="table", width=24,
                  description="Set the time range to Today: how much did X share with Y today?"),
        )),
        Row("Datasets", (
            panel("Top datasets by events published /s",
                  "topk(10, sum by (dataset) (provider_dataset:ndxp_events_published:rate5m))",
                  kind="bargauge", legend="{{dataset}}", unit="ops"),
            panel("Top datasets by events delivered /s",
                  "topk(10, sum by (dataset) "
                  "(provider_consumer_dataset:ndxp_events_delivered:rate5m))",
                  kind="bargauge", legend="{{dataset}}", unit="ops"),
            panel("Events published /s by channel",
                  sum_rate("ndxp_events_published_total", "channel"),
                  legend="{{channel}}", unit="ops"),
            panel("Events delivered /s by channel", "channel:ndxp_events_delivered:rate5m",
                  legend="{{channel}}", unit="ops"),
        )),
        Row("Latency", (
            panel("Publish latency p99 (arrival to Kafka's acknowledgement)",
                  "dataset:ndxp_publish_duration_seconds:p99_rate5m",
                  legend="{{dataset}}", unit="s"),
            panel("Delivery latency p99 (publication to delivery)",
                  "dataset_channel:ndxp_delivery_lag_seconds:p99_rate5m",
                  legend="{{dataset}} {{channel}}", unit="s"),
        )),
        Row("Errors", (
            panel("Publish requests /s by status",
                  "sum by (status) (job_status:ndxp_publish_requests:rate5m)",
                  legend="{{status}}", unit="reqps"),
            panel("Publishes refused /s by reason",
                  "sum by (reason) (dataset_reason:ndxp_publish_rejected:rate5m)",
                  legend="{{reason}}", unit="reqps"),
            panel("Publish SLIs: share answered 5xx, share slower than 0.5 s",
                  Query("job:ndxp_publish_errors:ratio_rate5m", "5xx {{job}}"),
                  Query("job:ndxp_publish_slow:ratio_rate5m", "slow {{job}}"),
                  unit="percentunit"),
            panel("HTTP answers 4xx and 5xx /s by service and status",
                  sum_rate('ndxp_http_requests_total{status=~"[45].."}', "service, status"),
                  legend="{{service}} {{status}}", unit="reqps"),
        )),
        Row("Health", (
            panel("Scrape targets up, by job", "sum by (job) (up)", legend="{{job}}"),
            panel("Kafka reachable, by service and instance", "ndxp_kafka_up",
                  legend="{{service}} {{instance}}"),
            panel("Ready, by service and instance", "ndxp_ready",
                  legend="{{service}} {{instance}}"),
        )),
    ),
)  # fmt: skip

DATASET: Final = Board(
    uid="ndxp-dataset",
    title="ndxp / Dataset",
    description="One dataset: what its provider publishes, who receives it, how late, its topic.",
    variables=(Variable("dataset", "dataset", "ndxp_events_published_total", "Dataset"),),
    rows=(
        Row("Published", (
            panel("Events published /s by channel",
                  sum_rate('ndxp_events_published_total{dataset="$dataset"}', "channel"),
                  legend="{{channel}}", unit="ops"),
            panel("Bytes published /s",
                  'sum(provider_dataset:ndxp_published_bytes:rate5m{dataset="$dataset"})',
                  legend="bytes", unit="Bps"),
            panel("Publish latency",
                  Query('dataset:ndxp_publish_duration_seconds:p50_rate5m{dataset="$dataset"}',
                        "p50"),
                  Query('dataset:ndxp_publish_duration_seconds:p99_rate5m{dataset="$dataset"}',
                        "p99"),
                  unit="s"),
            panel("Publishes refused /s by reason",
                  'sum by (reason) (dataset_reason:ndxp_publish_rejected:rate5m{dataset="$dataset"})',
                  legend="{{reason}}", unit="reqps"),
        )),
        Row("Delivered", (
            panel("Events delivered /s by consumer",
                  "sum by (consumer) "
                  '(provider_consumer_dataset:ndxp_events_delivered:rate5m{dataset="$dataset"})',
                  legend="{{consumer}}", unit="ops"),
            panel("Bytes delivered /s by consumer",
                  "sum by (consumer) "
                  '(provider_consumer_dataset:ndxp_delivered_bytes:rate5m{dataset="$dataset"})',
                  legend="{{consumer}}", unit="Bps"),
            panel("Delivery latency p99 by channel",
                  'dataset_channel:ndxp_delivery_lag_seconds:p99_rate5m{dataset="$dataset"}',
                  legend="{{channel}}", unit="s"),
            panel("Subscription lag by consumer (records)",
                  'consumer_dataset:ndxp_subscription_lag_records:sum{dataset="$dataset"}',
                  legend="{{consumer}}"),
            panel("Events delivered in the time range, by consumer and channel",
                  sum_increase('ndxp_events_delivered_total{dataset="$dataset"}', "consumer, channel"),
                  kind="table", width=24),
        )),
        Row("Topic", (
            panel("Bytes in and out /s (broker)",
                  Query(sum_rate(f"kafka_server_brokertopicmetrics_bytesin_total{{{TOPIC_OF_DATASET}}}", "topic"),
                        "in {{topic}}"),
                  Query(sum_rate(f"kafka_server_brokertopicmetrics_bytesout_total{{{TOPIC_OF_DATASET}}}", "topic"),
                        "out {{topic}}"),
                  unit="Bps"),
            panel("Partitions under-replicated and offline",
                  Query(f"max by (topic) (ndxp_kafka_under_replicated_partitions{{{TOPIC_OF_DATASET}}})",
                        "under-replicated {{topic}}"),
                  Query(f"max by (topic) (ndxp_kafka_offline_partitions{{{TOPIC_OF_DATASET}}})",
                        "offline {{topic}}")),
            panel("Bytes on disk",
                  f"sum by (topic) (kafka_log_log_size_bytes{{{TOPIC_OF_DATASET}}})",
                  legend="{{topic}}", unit="bytes"),
        )),
    ),
)  # fmt: skip

CONSUMER: Final = Board(
    uid="ndxp-consumer",
    title="ndxp / Consumer",
    description="One consumer agency: what it receives, from whom, how late, how far behind.",
    variables=(Variable("consumer", "consumer", "ndxp_events_delivered_total", "Consumer"),),
    rows=(
        Row("Deliveries", (
            panel("Events delivered /s by dataset and channel",
                  sum_rate('ndxp_events_delivered_total{consumer="$consumer"}', "dataset, channel"),
                  legend="{{dataset}} {{channel}}", unit="ops"),
            panel("Bytes delivered /s by provider",
                  "sum by (provider) "
                  '(provider_consumer_dataset:ndxp_delivered_bytes:rate5m{consumer="$consumer"})',
                  legend="{{provider}}", unit="Bps"),
            panel("Delivery latency p99 by dataset",
                  'consumer_dataset:ndxp_delivery_lag_seconds:p99_rate5m{consumer="$consumer"}',
                  legend="{{dataset}}", unit="s",
                  description="Publication to delivery to this consumer, over its channels."),
            panel("Events delivered in the time range, by provider and dataset",
                  sum_increase('ndxp_events_delivered_total{consumer="$consumer"}', "provider, dataset"),
                  kind="table"),
        )),
        Row("Lag", (
            panel("Lag by subscription (records)",
                  "max by (dataset, subscription) "
                  '(ndxp_subscription_lag_records{consumer="$consumer"})',
                  legend="{{dataset}} {{subscription}}"),
            panel("Lag by dataset (records)",
                  'consumer_dataset:ndxp_subscription_lag_records:sum{consumer="$consumer"}',
                  legend="{{dataset}}"),
        )),
        Row("Connections and agreements", (
            panel("Open streams and pulls in flight",
                  Query('sum(ndxp_gateway_streams_open{agency="$consumer"})', "streams"),
                  Query('sum(ndxp_gateway_pulls_in_flight{agency="$consumer"})', "pulls")),
            panel("Agreements by state (whole hub)", "max by (state) (ndxp_agreements)",
                  kind="bargauge", legend="{{state}}"),
            panel("Requests refused 429 /s by limit (whole hub)",
                  sum_rate("ndxp_gateway_limited_total", "limit"),
                  legend="{{limit}}", unit="reqps"),
        )),
    ),
)  # fmt: skip

CONNECTORS: Final = Board(
    uid="ndxp-connectors",
    title="ndxp / Connectors",
    description="Source and sink connectors (push subscriptions are webhook-sink connectors).",
    variables=(
        Variable("connector", "connector", "ndxp_connector_status", "Connector", include_all=True),
    ),
    rows=(
        Row("State", (
            stat("Connectors RUNNING",
                 'sum(max by (connector) (ndxp_connector_status{state="RUNNING"}))'),
            stat("Connectors FAILED",
                 'sum(max by (connector) (ndxp_connector_status{state="FAILED"}))'),
            panel("State by connector",
                  'max by (connector, state) (ndxp_connector_status{connector=~"$connector"}) == 1',
                  kind="table"),
        )),
        Row("Records", (
            panel("Records /s by connector and outcome",
                  sum_rate('ndxp_connector_records_total{connector=~"$connector"}', "connector, outcome"),
                  legend="{{connector}} {{outcome}}", unit="ops"),
            panel("Records dead-lettered in the time range",
                  sum_increase('ndxp_connector_records_total{connector=~"$connector",'
                               'outcome="dead_lettered"}', "connector"),
                  kind="table"),
            panel("Restarts in the time range, by connector and reason",
                  sum_increase('ndxp_connector_restarts_total{connector=~"$connector"}',
                               "connector, reason"),
                  kind="table"),
            panel("Events published /s by source connectors",
                  sum_rate('ndxp_events_published_total{channel="connector"}', "dataset"),
                  legend="{{dataset}}", unit="ops"),
            panel("Source backlog by connector (records)",
                  'max by (connector) (ndxp_connector_source_lag_records{connector=~"$connector"})',
                  legend="{{connector}}",
                  description="Rows a source's system holds past its offset (sources that can "
                  "tell: sql-source outside bulk mode)."),
            panel("Sink lag by connector (records, every sink)",
                  "max by (connector, dataset) (ndxp_connector_sink_lag_records)",
                  legend="{{connector}} {{dataset}}",
                  description="Records of its dataset the sink has yet to deliver and commit."),
            panel("Events delivered /s by sink connectors (push subscriptions included)",
                  sum_rate('ndxp_events_delivered_total{channel="connector"}', "consumer, dataset"),
                  legend="{{consumer}} {{dataset}}", unit="ops"),
        )),
        Row("Workers", (
            panel("connect API requests /s by route and status",
                  sum_rate('ndxp_http_requests_total{service="connect"}', "route, status"),
                  legend="{{route}} {{status}}", unit="reqps"),
            panel("Kafka reachable from connect, by instance",
                  'ndxp_kafka_up{service="connect"}', legend="{{instance}}"),
        )),
    ),
)  # fmt: skip

BROKER: Final = 'instance=~"$instance"'

KAFKA: Final = Board(
    uid="ndxp-kafka",
    title="ndxp / Kafka",
    description="The brokers as their JMX exporters tell it, and the cluster as ndxp's services "
    "see it as clients.",
    variables=(
        Variable("instance", "instance", "kafka_server_kafkaserver_brokerstate", "Broker",
                 include_all=True),
    ),
    rows=(
        Row("Cluster", (
            stat("Brokers reachable (fewest any service sees)", "min(ndxp_kafka_brokers)"),
            stat("Active controllers", "sum(kafka_controller_kafkacontroller_activecontrollercount)"),
            stat("Offline partitions (controller)",
                 "max(kafka_controller_kafkacontroller_offlinepartitionscount)"),
            stat("Under-replicated partitions",
                 f"sum(kafka_server_replicamanager_underreplicatedpartitions{{{BROKER}}})"),
            panel("Kafka reachable, by service and instance", "ndxp_kafka_up",
                  legend="{{service}} {{instance}}"),
            panel("Broker state (3 = running)", f"kafka_server_kafkaserver_brokerstate{{{BROKER}}}",
                  legend="{{instance}}"),
        )),
        Row("Partitions", (
            panel("Partitions and leaders per broker",
                  Query(f"kafka_server_replicamanager_partitioncount{{{BROKER}}}",
                        "partitions {{instance}}"),
                  Query(f"kafka_server_replicamanager_leadercount{{{BROKER}}}",
                        "leaders {{instance}}")),
            panel("Partitions under min ISR and offline replicas per broker",
                  Query(f"kafka_server_replicamanager_underminisrpartitioncount{{{BROKER}}}",
                        "under min ISR {{instance}}"),
                  Query(f"kafka_server_replicamanager_offlinereplicacount{{{BROKER}}}",
                        "offline replicas {{instance}}")),
            panel("ndxp topics: partitions under-replicated and offline (as clients see them)",
                  Query("max by (topic) (ndxp_kafka_under_replicated_partitions)",
                        "under-replicated {{topic}}"),
                  Query("max by (topic) (ndxp_kafka_offline_partitions)", "offline {{topic}}")),
            panel("ISR shrinks and expands /s",
                  Query(sum_rate(f"kafka_server_replicamanager_isrshrinks_total{{{BROKER}}}", "instance"),
                        "shrinks {{instance}}"),
                  Query(sum_rate(f"kafka_server_replicamanager_isrexpands_total{{{BROKER}}}", "instance"),
                        "expands {{instance}}")),
        )),
        Row("Traffic and storage", (
            panel("Bytes in /s by topic",
                  sum_rate(f"kafka_server_brokertopicmetrics_bytesin_total{{{BROKER}}}", "topic"),
                  legend="{{topic}}", unit="Bps"),
            panel("Bytes out /s by topic",
                  sum_rate(f"kafka_server_brokertopicmetrics_bytesout_total{{{BROKER}}}", "topic"),
                  legend="{{topic}}", unit="Bps"),
            panel("Messages in /s by topic",
                  sum_rate(f"kafka_server_brokertopicmetrics_messagesin_total{{{BROKER}}}", "topic"),
                  legend="{{topic}}", unit="ops"),
            panel("Bytes on disk by topic",
                  f"sum by (topic) (kafka_log_log_size_bytes{{{BROKER}}})",
                  legend="{{topic}}", unit="bytes"),
            panel("Log directory space usable, by broker",
                  "min by (broker, log_dir) "
                  "(ndxp_kafka_log_dir_usable_bytes / ndxp_kafka_log_dir_total_bytes)",
                  legend="{{broker}} {{log_dir}}", unit="percentunit",
                  description="Under 25% and filling fires NdxpBrokerDiskFilling; under 10%, "
                  "NdxpBrokerDiskAlmostFull."),
        )),
        Row("Requests", (
            panel("Request time p99 (the broker's own quantile)",
                  f'kafka_network_requestmetrics_totaltime_seconds{{{BROKER},quantile="0.99",'
                  'request=~"Produce|FetchConsumer|EndTxn|TxnOffsetCommit|OffsetCommit"}',
                  legend="{{instance}} {{request}}", unit="s"),
            panel("Requests /s by type",
                  sum_rate(f"kafka_network_requestmetrics_requests_total{{{BROKER}}}", "request"),
                  legend="{{request}}", unit="reqps"),
            panel("Idle share of request handler and network threads",
                  Query("kafka_server_kafkarequesthandlerpool_requesthandleravgidle_ratio"
                        f"{{{BROKER}}}", "request handlers {{instance}}"),
                  Query(f"kafka_network_socketserver_networkprocessoravgidle_ratio{{{BROKER}}}",
                        "network {{instance}}"),
                  unit="percentunit",
                  description="Low is busy. A combined broker and controller node adds both "
                  "handler pools to one meter, so it reads up to 2 there."),
            panel("Producers ndxp recycled, by reason",
                  sum_increase("ndxp_producer_recycles_total", "reason"),
                  legend="{{reason}}"),
            panel("Publish transactions /s by outcome",
                  sum_rate("ndxp_kafka_transactions_total", "outcome"),
                  legend="{{outcome}}", unit="ops",
                  description="aborted: a batch refused at the last moment; abandoned: the "
                  "producer was discarded with the transaction open (see the recycles)."),
        )),
    ),
)  # fmt: skip

IDENTITY_AUDIT: Final = Board(
    uid="ndxp-identity-audit",
    title="ndxp / Identity and audit",
    description="Who asks for tokens and who is refused; reads of the audit trail and the "
    "decisions it records.",
    rows=(
        Row("Tokens", (
            stat("Signing key age", "max(ndxp_auth_signing_key_age_seconds)", unit="s",
                 description="Past NDXP_AUTH_KEY_ROTATION_DAYS, NdxpSigningKeyOverdue fires."),
            panel("Tokens issued in the time range, by client",
                  sum_increase("ndxp_auth_tokens_issued_total", "agency, client"),
                  kind="table"),
            panel("Token requests refused /s by reason",
                  sum_rate("ndxp_auth_token_refusals_total", "reason"),
                  legend="{{reason}}", unit="reqps"),
            panel("Token requests /s by status",
                  sum_rate(f"ndxp_http_requests_total{{{ISSUING}}}", "status"),
                  legend="{{status}}", unit="reqps"),
            panel("Share of token requests refused",
                  share(f'ndxp_http_requests_total{{{ISSUING},status=~"4.."}}',
                        f"ndxp_http_requests_total{{{ISSUING}}}"),
                  legend="refused", unit="percentunit",
                  description="Above half, at more than one a second, fires "
                  "NdxpTokenRefusalsSpiking."),
            panel("Token endpoint latency p99",
                  "histogram_quantile(0.99, "
                  f"{sum_rate(f'ndxp_http_request_duration_seconds_bucket{{{ISSUING}}}', 'le')})",
                  legend="p99", unit="s"),
            panel("Requests refused 401 and 403 /s by service and route",
                  sum_rate('ndxp_http_requests_total{status=~"401|403"}', "service, route, status"),
                  legend="{{service}} {{route}} {{status}}", unit="reqps"),
            panel("Key set, introspection and revocation requests /s",
                  sum_rate('ndxp_http_requests_total{service="gateway",'
                           'route=~"/oauth2/(jwks|introspect|revoke)"}', "route, status"),
                  legend="{{route}} {{status}}", unit="reqps"),
        )),
        Row("Audit and decisions", (
            stat("Audit chain intact", "min(ndxp_audit_chain_intact)",
                 description="0: the gateway's last check found the chain broken "
                 "(NdxpAuditChainBroken)."),
            panel("Audit records written /s by action",
                  sum_rate("ndxp_audit_records_total", "action"),
                  legend="{{action}}", unit="ops"),
            panel("Audit trail reads /s by status",
                  sum_rate('ndxp_http_requests_total{service="gateway",route="/v1/audit"}', "status"),
                  legend="{{status}}", unit="reqps"),
            panel("Agreement requests and decisions /s",
                  sum_rate('ndxp_http_requests_total{service="gateway",method="POST",'
                           'route=~"/v1/agreements.*"}', "route, status"),
                  legend="{{route}} {{status}}", unit="reqps"),
            panel("Administrative changes /s",
                  sum_rate('ndxp_http_requests_total{service="gateway",method!="GET",'
                           'route=~"/v1/admin/.*"}', "route, status"),
                  legend="{{route}} {{status}}", unit="reqps"),
        )),
    ),
)  # fmt: skip

BOARDS: Final = (OVERVIEW, DATASET, CONSUMER, CONNECTORS, KAFKA, IDENTITY_AUDIT)
