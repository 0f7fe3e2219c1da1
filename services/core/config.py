"""Configuration of every ndxp service, read from ``NDXP_*`` environment variables.

Each concern is its own settings model with its own prefix (``NDXP_KAFKA_*``, ``NDXP_DATABASE_*``,
``NDXP_LOG_*``) so a variable means the same thing to every service; a service's settings nest them
and add its own listener (``NDXP_<SERVICE>_HOST`` / ``NDXP_<SERVICE>_PORT``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, BeforeValidator, Field, SecretStr
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from services.core.bounded_json import DEFAULT_MAX_DEPTH, MAX_DEPTH_CAP
from services.core.http.destinations import DestinationSettings, comma_separated
from services.core.kafka.topics import CONNECT_CONFIGS_TOPIC, CONNECT_OFFSETS_TOPIC

DEFAULT_KAFKA_VERSION = "4.1.1"


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "ndxp"


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "ndxp"


class KafkaSettings(BaseSettings):
    """Where the data plane is: an existing cluster, or a broker ndxp runs itself."""

    model_config = SettingsConfigDict(env_prefix="NDXP_KAFKA_", extra="ignore")

    bootstrap: str | None = Field(
        default=None,
        description="An existing cluster's bootstrap servers; set means start nothing.",
    )
    version: str = Field(default=DEFAULT_KAFKA_VERSION, description="Apache Kafka to run locally.")
    cache_dir: Path = Field(default_factory=_default_cache_dir, description="Where jars are kept.")
    heap: str = Field(default="512m", description="Java heap of the local broker.")
    local_port: int = Field(default=9092, ge=0, description="Local broker's port; 0 picks one.")
    local_controller_port: int = Field(default=9093, ge=0, description="Its KRaft controller port.")
    jmx_port: Annotated[int, Field(ge=0)] | Literal["off"] = Field(
        default=9404,
        description="Local broker's Prometheus JMX exporter port; 0 picks one, off runs none.",
    )
    start_timeout: float = Field(default=90.0, description="Seconds to wait for the local broker.")
    watch_interval: float = Field(
        default=15.0,
        ge=0,
        description="Seconds between a service's looks at the cluster (its ndxp_kafka_* metrics "
        "and ndxp_ready); 0 looks only when /readyz is asked.",
    )
    lag_interval: float = Field(
        default=15.0,
        ge=0,
        description="Seconds between measures of every subscription's and sink connector's lag "
        "(ndxp_subscription_lag_records, ndxp_connector_sink_lag_records), by whichever replica "
        "holds the lease; 0 measures none.",
    )
    client_id: str = "ndxp"
    request_timeout_ms: int = 30_000
    replication_factor: int = Field(default=1, ge=1, description="For topics ndxp creates.")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None

    def client_options(self, bootstrap: str | None = None) -> dict[str, Any]:
        """Connection options shared by every aiokafka client ndxp builds."""
        servers = bootstrap or self.bootstrap
        if not servers:
            raise ValueError("no Kafka bootstrap servers: set NDXP_KAFKA_BOOTSTRAP or start one")
        options: dict[str, Any] = {
            "bootstrap_servers": servers,
            "client_id": self.client_id,
            "request_timeout_ms": self.request_timeout_ms,
            "security_protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            options["sasl_mechanism"] = self.sasl_mechanism
            options["sasl_plain_username"] = self.sasl_username
            options["sasl_plain_password"] = (
                self.sasl_password.get_secret_value() if self.sasl_password else None
            )
        return options


class DatabaseSettings(BaseSettings):
    """The control plane: a SQLite file by default, PostgreSQL when the URL says so."""

    model_config = SettingsConfigDict(env_prefix="NDXP_DATABASE_", extra="ignore")

    url: SecretStr | None = Field(
        default=None,
        description="SQLAlchemy async URL, e.g. postgresql+asyncpg://user:pw@host/ndxp.",
    )
    pool_size: int = 5
    echo: bool = False

    def resolved_url(self, data_dir: Path) -> str:
        """The URL to connect to: the configured one, or a SQLite file in the data dir."""
        if self.url is not None:
            return normalize_database_url(self.url.get_secret_value())
        return f"sqlite+aiosqlite:///{data_dir / 'ndxp.db'}"


def normalize_database_url(url: str) -> str:
    """Accept the plain URLs operators write and pick the async driver for them."""
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


class LogSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NDXP_LOG_", extra="ignore")

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["json", "text"] = "text"


class TracingSettings(BaseSettings):
    """Traces (OpenTelemetry over OTLP/HTTP): off unless an exporter is named or an OTLP endpoint
    is set. The standard ``OTEL_*`` variables turn them on as well; ``NDXP_TRACING_*`` wins where
    both are set. The exporter reads the other ``OTEL_EXPORTER_OTLP_*`` variables (headers,
    timeout, compression, certificates) itself; the SDK reads ``OTEL_TRACES_SAMPLER`` and
    ``OTEL_BSP_*``."""

    model_config = SettingsConfigDict(env_prefix="NDXP_TRACING_", extra="ignore")

    exporter: Literal["otlp", "console", "none"] | None = Field(
        default=None,
        validation_alias=AliasChoices("NDXP_TRACING_EXPORTER", "OTEL_TRACES_EXPORTER"),
        description="Where spans go: otlp, console (stdout) or none; unset: otlp when an "
        "endpoint is set, else none (no spans, no exporter thread).",
    )
    endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "NDXP_TRACING_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
        ),
        description="The collector's OTLP/HTTP traces URL, e.g. http://collector:4318/v1/traces.",
    )
    otlp_endpoint: str | None = Field(
        default=None,
        validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT",
        description="The collector's OTLP/HTTP base URL; spans go to its /v1/traces.",
    )

    sdk_disabled: bool = Field(
        default=False,
        validation_alias="OTEL_SDK_DISABLED",
        description="The standard switch: true turns traces off whatever else is set.",
    )

    @property
    def chosen(self) -> Literal["otlp", "console", "none"]:
        """The exporter in force: none if the SDK is disabled; else the one named; else otlp
        when an endpoint is set; else none."""
        if self.sdk_disabled:
            return "none"
        if self.exporter is not None:
            return self.exporter
        return "otlp" if self.endpoint or self.otlp_endpoint else "none"

    @property
    def traces_url(self) -> str:
        """Where the otlp exporter sends spans."""
        if self.endpoint:
            return self.endpoint
        base = self.otlp_endpoint or "http://localhost:4318"
        return base.rstrip("/") + "/v1/traces"


class TrustedIssuer(BaseModel):
    """An external OAuth2 issuer whose tokens ndxp accepts (a ministry's Keycloak, a national
    identity provider): where its keys are, what audience it uses, which claim names the agency."""

    issuer: str
    jwks_url: str
    audience: str
    agency_claim: str = "agency"
    scope_claim: str = "scope"


class AuthSettings(BaseSettings):
    """Tokens: how the gateway issues them and how every service verifies them."""

    model_config = SettingsConfigDict(env_prefix="NDXP_AUTH_", extra="ignore")

    issuer: str = Field(
        default="http://127.0.0.1:8080", description="The gateway's public URL, the tokens' iss."
    )
    audience: str = Field(default="ndxp", description="The tokens' aud.")
    token_lifetime: int = Field(default=900, ge=60, description="Access token lifetime, seconds.")
    leeway: int = Field(default=30, ge=0, le=300, description="Clock skew allowed on exp/nbf.")
    key_encryption_key: SecretStr | None = Field(
        default=None,
        description="Base64 of 32 bytes that encrypt signing keys at rest; unset: a key file in "
        "the data dir, created on first use.",
    )
    key_rotation_days: float = Field(
        default=90,
        gt=0,
        description="How often the gateway's signing key should be rotated (`ndxp keys rotate`); "
        "exported as ndxp_auth_signing_key_rotation_period_seconds for the overdue alert.",
    )
    jwks_url: str | None = Field(
        default=None,
        description="Where services other than the gateway fetch its JWKS; unset: derived from "
        "issuer.",
    )
    jwks_cache_seconds: int = Field(
        default=300, ge=0, description="How long a fetched JWKS is kept."
    )
    trusted_issuers: list[TrustedIssuer] = Field(
        default_factory=list, description="JSON list of external issuers to trust."
    )
    view_poll_seconds: float = Field(
        default=0.25,
        gt=0,
        le=1,
        description="How often each process checks the control plane's change counter and "
        "reloads its in-memory view of clients, agencies and revocations when it moved.",
    )
    view_max_age_seconds: float = Field(
        default=0.75,
        gt=0,
        le=1,
        description="A request checks the counter itself when the last check is older than "
        "this (a stalled poller): a revocation or a disabled client is refused within it.",
    )
    rate_limit_per_second: float = Field(
        default=100.0, gt=0, description="Each client's sustained request rate."
    )
    rate_limit_burst: int = Field(default=200, ge=1, description="Each client's burst.")
    require_tokens: bool = Field(
        default=True,
        description="Registry and connect: refuse requests without a valid token (the gateway "
        "always does).",
    )


class ServiceSettings(BaseSettings):
    """What every service shares; each service subclasses it to add its listener."""

    # validate_by_name: code and tests pass host=/port=, the environment names them NDXP_<SVC>_*.
    model_config = SettingsConfigDict(
        env_prefix="NDXP_", extra="ignore", validate_by_name=True, validate_by_alias=True
    )

    data_dir: Path = Field(default_factory=_default_data_dir)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    tracing: TracingSettings = Field(default_factory=TracingSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    migrate_on_start: bool = Field(
        default=True, description="Apply Alembic migrations when the service starts."
    )
    ready_after: Path | None = Field(
        default=None,
        description="/readyz answers 503 (check `startup`) until this file exists; `ndxp up` "
        "writes it once the demo is seeded.",
    )
    shutdown_grace: int = Field(
        default=2,
        ge=0,
        description="Seconds open requests (streams, long polls) get to end when the service is "
        "told to stop; then they are cancelled.",
    )
    max_json_depth: int = Field(
        default=DEFAULT_MAX_DEPTH,
        ge=8,
        le=MAX_DEPTH_CAP,
        description="Levels of arrays and objects a JSON body or a schema may nest (400 or "
        "42201 beyond).",
    )
    # The listener; each service names its own variables (NDXP_GATEWAY_PORT, ...).
    host: str = "127.0.0.1"
    port: int = 0

    @property
    def database_url(self) -> str:
        return self.database.resolved_url(self.data_dir)


class RegistrySettings(ServiceSettings):
    host: str = Field("127.0.0.1", validation_alias="NDXP_REGISTRY_HOST")
    port: int = Field(8081, validation_alias="NDXP_REGISTRY_PORT")
    max_schema_bytes: int = Field(
        1_048_576, ge=1024, validation_alias="NDXP_REGISTRY_MAX_SCHEMA_BYTES"
    )
    default_compatibility: str = Field(
        "BACKWARD", validation_alias="NDXP_REGISTRY_DEFAULT_COMPATIBILITY"
    )
    default_lint: Literal["off", "warn", "enforce"] = Field(
        "warn", validation_alias="NDXP_REGISTRY_DEFAULT_LINT"
    )


class GatewaySettings(ServiceSettings):
    host: str = Field("127.0.0.1", validation_alias="NDXP_GATEWAY_HOST")
    port: int = Field(8080, validation_alias="NDXP_GATEWAY_PORT")
    registry_url: str = Field("http://127.0.0.1:8081", validation_alias="NDXP_GATEWAY_REGISTRY_URL")
    publish_max_bytes: int = Field(
        5 * 1024 * 1024,
        ge=1024,
        validation_alias="NDXP_GATEWAY_PUBLISH_MAX_BYTES",
        description="The largest publish request body, in bytes (413 beyond).",
    )
    publish_max_records: int = Field(
        10_000,
        ge=1,
        validation_alias="NDXP_GATEWAY_PUBLISH_MAX_RECORDS",
        description="The most records in one publish request (413 beyond).",
    )
    publish_producers: int = Field(
        4,
        ge=1,
        le=64,
        validation_alias="NDXP_GATEWAY_PUBLISH_PRODUCERS",
        description="Transactional Kafka producers per gateway process: publish batches in flight.",
    )
    publish_timeout: float = Field(
        15.0,
        gt=0,
        validation_alias="NDXP_GATEWAY_PUBLISH_TIMEOUT",
        description="Seconds Kafka has to take a batch before the publish answers 503.",
    )
    audit_verify_interval: float = Field(
        300.0,
        ge=0,
        validation_alias="NDXP_GATEWAY_AUDIT_VERIFY_INTERVAL",
        description="Seconds between the gateway's checks of the audit chain "
        "(ndxp_audit_chain_intact); 0 turns them off.",
    )
    connect_configs_topic: str = Field(
        CONNECT_CONFIGS_TOPIC,
        validation_alias="NDXP_GATEWAY_CONNECT_CONFIGS_TOPIC",
        description="Connect's configs topic, where push subscriptions' connectors are written.",
    )
    push: DestinationSettings = Field(
        default_factory=DestinationSettings,
        description="Where push endpoints may be: NDXP_PUSH_ALLOWED_NETWORKS.",
    )
    # Delivery limits (services.gateway.subscriptions.limits): past one, 429 with Retry-After.
    streams_per_agency: int = Field(
        100,
        ge=1,
        validation_alias="NDXP_GATEWAY_STREAMS_PER_AGENCY",
        description="SSE streams one consumer agency may hold open on one gateway replica.",
    )
    streams_per_replica: int = Field(
        4000,
        ge=1,
        validation_alias="NDXP_GATEWAY_STREAMS_PER_REPLICA",
        description="SSE streams one gateway replica serves at once (those at the head of a "
        "dataset share one Kafka consumer; one behind holds its own until it catches up).",
    )
    # Shared head readers of streams (services.gateway.subscriptions.heads).
    stream_window_records: int = Field(
        5000,
        ge=1,
        validation_alias="NDXP_GATEWAY_STREAM_WINDOW_RECORDS",
        description="Records a shared head reader keeps for streams joining it, and the most a "
        "stream may fall behind it before it reads with a consumer of its own.",
    )
    catchup_consumers: int = Field(
        100,
        ge=1,
        validation_alias="NDXP_GATEWAY_CATCHUP_CONSUMERS",
        description="Streams that may read with a consumer of their own at once (behind the "
        "head); the others wait for one to catch up, so an overloaded replica does not open a "
        "consumer per stream.",
    )
    head_linger_seconds: float = Field(
        30.0,
        ge=0,
        validation_alias="NDXP_GATEWAY_HEAD_LINGER_SECONDS",
        description="Seconds a shared head reader without streams stays open for the next one.",
    )
    pulls_per_agency: int = Field(
        50,
        ge=1,
        validation_alias="NDXP_GATEWAY_PULLS_PER_AGENCY",
        description="Pulls (long polls) one consumer agency may have in progress on one replica.",
    )
    pulls_per_replica: int = Field(
        500,
        ge=1,
        validation_alias="NDXP_GATEWAY_PULLS_PER_REPLICA",
        description="Pulls one gateway replica serves at once.",
    )
    subscriptions_per_agency: int = Field(
        1000,
        ge=1,
        validation_alias="NDXP_GATEWAY_SUBSCRIPTIONS_PER_AGENCY",
        description="Subscriptions one consumer agency may hold (counted at creation).",
    )


class ConnectSettings(ServiceSettings):
    host: str = Field("127.0.0.1", validation_alias="NDXP_CONNECT_HOST")
    port: int = Field(8083, validation_alias="NDXP_CONNECT_PORT")
    registry_url: str = Field(
        "http://127.0.0.1:8081",
        validation_alias="NDXP_CONNECT_REGISTRY_URL",
        description="Where connectors fetch their dataset's contract.",
    )
    configs_topic: str = Field(
        CONNECT_CONFIGS_TOPIC,
        validation_alias="NDXP_CONNECT_CONFIGS_TOPIC",
        description="Compacted topic holding connector configs and target states.",
    )
    offsets_topic: str = Field(
        CONNECT_OFFSETS_TOPIC,
        validation_alias="NDXP_CONNECT_OFFSETS_TOPIC",
        description="Compacted topic holding source offsets, keyed by connector name.",
    )
    status_topic: str = Field(
        "ndxp.connect-status",
        validation_alias="NDXP_CONNECT_STATUS_TOPIC",
        description="Compacted topic holding each connector's status, written by its worker.",
    )
    group: str = Field(
        "ndxp-connect",
        validation_alias="NDXP_CONNECT_GROUP",
        description="Workers with the same group share the connectors (a Kafka consumer group).",
    )
    slots_topic: str = Field(
        "ndxp.connect-slots",
        validation_alias="NDXP_CONNECT_SLOTS_TOPIC",
        description="Topic whose partitions the group spreads over its workers (never written).",
    )
    session_timeout_ms: int = Field(
        10_000,
        ge=6_000,
        validation_alias="NDXP_CONNECT_SESSION_TIMEOUT_MS",
        description="A worker silent this long is dead: its connectors move to the others.",
    )
    token_url: str | None = Field(
        None,
        validation_alias="NDXP_CONNECT_TOKEN_URL",
        description="OAuth2 token endpoint for connect's own client (registry reads); unset: "
        "the gateway's, under NDXP_AUTH_ISSUER.",
    )
    client_id: str | None = Field(
        None,
        validation_alias="NDXP_CONNECT_CLIENT_ID",
        description="Connect's client; unset: its own identity, created in the control plane.",
    )
    client_secret: SecretStr | None = Field(None, validation_alias="NDXP_CONNECT_CLIENT_SECRET")
    client_secret_file: Path | None = Field(
        None,
        validation_alias="NDXP_CONNECT_CLIENT_SECRET_FILE",
        description="A file holding the client's secret (a mounted container secret).",
    )
    retry_attempts: int = Field(
        5,
        ge=1,
        validation_alias="NDXP_CONNECT_RETRY_ATTEMPTS",
        description="Tries of a failing poll or write before the connector is FAILED.",
    )
    retry_backoff: float = Field(
        0.2,
        gt=0,
        validation_alias="NDXP_CONNECT_RETRY_BACKOFF",
        description="First back-off in seconds; doubled after each failed try.",
    )
    file_base_dirs: Annotated[list[Path], NoDecode, BeforeValidator(comma_separated)] = Field(
        default_factory=list,
        validation_alias="NDXP_CONNECT_FILE_BASE_DIRS",
        description="Directories file connectors may read (comma-separated); unset: "
        "<data dir>/drops.",
    )

    @property
    def file_dirs(self) -> list[Path]:
        """Where file connectors may read: the configured directories, or the data dir's drops."""
        return self.file_base_dirs or [self.data_dir / "drops"]


class UpSettings(BaseSettings):
    """How ``ndxp up`` supervises what it starts: the back-off between restarts of a part that
    exited, and how many restarts it allows before it stops the whole hub."""

    model_config = SettingsConfigDict(env_prefix="NDXP_UP_", extra="ignore")

    restart_limit: int = Field(
        default=5, ge=0, description="Restarts of one part within restart_window; one more: stop."
    )
    restart_window: float = Field(default=60.0, gt=0, description="Seconds; see restart_limit.")
    backoff_initial: float = Field(default=0.5, gt=0, description="First restart's delay, s.")
    backoff_max: float = Field(default=10.0, gt=0, description="Longest delay; it doubles to it.")
    stable_after: float = Field(
        default=30.0, gt=0, description="A part up this long starts again from backoff_initial."
    )
    stop_timeout: float = Field(
        default=10.0, gt=0, description="Seconds a part has to stop on SIGTERM; then SIGKILL."
    )


def masked(settings: BaseModel) -> dict[str, Any]:
    """The effective configuration for the start-up log, secrets shown as ``**********``."""
    return settings.model_dump(mode="json")
