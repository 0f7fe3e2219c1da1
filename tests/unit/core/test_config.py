import os
from pathlib import Path

import pytest

from services.core.config import (
    ConnectSettings,
    DatabaseSettings,
    GatewaySettings,
    KafkaSettings,
    RegistrySettings,
    masked,
    normalize_database_url,
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("NDXP_"):
            monkeypatch.delenv(key)


def test_defaults() -> None:
    settings = GatewaySettings()
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert RegistrySettings().port == 8081
    assert ConnectSettings().port == 8083
    assert settings.kafka.bootstrap is None
    assert settings.kafka.version.startswith("4.")
    assert settings.database_url == f"sqlite+aiosqlite:///{settings.data_dir / 'ndxp.db'}"


def test_environment_overrides_each_concern(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NDXP_GATEWAY_PORT", "9080")
    monkeypatch.setenv("NDXP_REGISTRY_HOST", "0.0.0.0")
    monkeypatch.setenv("NDXP_KAFKA_BOOTSTRAP", "k1:9092,k2:9092")
    monkeypatch.setenv("NDXP_KAFKA_REPLICATION_FACTOR", "3")
    monkeypatch.setenv("NDXP_DATA_DIR", "/srv/ndxp")
    monkeypatch.setenv("NDXP_LOG_FORMAT", "json")
    gateway = GatewaySettings()
    assert gateway.port == 9080
    assert RegistrySettings().host == "0.0.0.0"
    assert RegistrySettings().port == 8081  # another service's variable is not ours
    assert gateway.kafka.bootstrap == "k1:9092,k2:9092"
    assert gateway.kafka.replication_factor == 3
    assert gateway.data_dir == Path("/srv/ndxp")
    assert gateway.log.format == "json"
    assert gateway.database_url == "sqlite+aiosqlite:////srv/ndxp/ndxp.db"


def test_keyword_arguments_win_over_defaults() -> None:
    assert GatewaySettings(port=1234, host="::1").port == 1234


def test_postgres_url_is_normalized_and_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NDXP_DATABASE_URL", "postgresql://ndxp:s3cret@db/ndxp")
    settings = GatewaySettings()
    assert settings.database_url == "postgresql+asyncpg://ndxp:s3cret@db/ndxp"
    assert "s3cret" not in str(masked(settings))


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u@h/d", "postgresql+asyncpg://u@h/d"),
        ("postgresql+asyncpg://u@h/d", "postgresql+asyncpg://u@h/d"),
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
    ],
)
def test_normalize_database_url(given: str, expected: str) -> None:
    assert normalize_database_url(given) == expected


def test_invalid_values_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NDXP_GATEWAY_PORT", "eighty")
    with pytest.raises(ValueError, match="NDXP_GATEWAY_PORT"):
        GatewaySettings()
    with pytest.raises(ValueError, match="replication_factor"):
        KafkaSettings(replication_factor=0)


def test_kafka_client_options_need_a_bootstrap() -> None:
    with pytest.raises(ValueError, match="NDXP_KAFKA_BOOTSTRAP"):
        KafkaSettings().client_options()
    options = KafkaSettings(sasl_mechanism="PLAIN", sasl_username="u", sasl_password="p")  # type: ignore[arg-type]
    assert options.client_options("b:1")["sasl_plain_password"] == "p"
    assert DatabaseSettings().url is None
