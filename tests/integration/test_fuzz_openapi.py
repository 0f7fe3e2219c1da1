"""Property-based tests of the three services over their own OpenAPI documents (schemathesis):
every operation, with valid and with invalid input, without a token and with a token of broad
scopes, must never answer a 5xx.

They run against a hub of their own (gateway, a token-requiring registry and connect on the
session's Kafka, SQLite), so what the fuzzer changes (a compatibility level, a dataset, a
connector) touches no other test. Bounded: a few examples per operation and mode, one session of
requests to loopback. A 5xx found here is a bug to fix at its cause, with a focused test.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from fastapi import APIRouter
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

from services.connectors.app import create_app as create_connect
from services.core.config import AuthSettings, KafkaSettings, ServiceSettings
from services.core.http.json_body import JsonRoute
from services.core.http.service import create_service_app
from services.core.local_kafka import free_port
from services.registry.app import create_app as create_registry
from tests.fixtures.gateway import Gateway, gateway_settings, serve_gateway
from tests.fixtures.registry import registry_settings
from tests.fixtures.servers import serve_app
from tests.integration.connect.conftest import connect_settings

SCOPES = ("admin", "catalog:read", "publish", "subscribe", "registry:write")
EXAMPLES = 10  # per operation and generation mode
MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
SERVICES = ("gateway", "registry", "connect")


@dataclass
class FuzzHub:
    urls: dict[str, str]
    token: str


@pytest.fixture(scope="module")
async def fuzz_hub(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str
) -> AsyncIterator[FuzzHub]:
    data_dir = tmp_path_factory.mktemp("fuzz")
    registry_url = f"http://127.0.0.1:{free_port()}"
    settings_ = gateway_settings(data_dir, kafka_bootstrap, registry_url=registry_url)
    with serve_gateway(settings_) as gateway:
        auth = AuthSettings(issuer=gateway.issuer, require_tokens=True)
        registry = registry_settings(data_dir / "registry", kafka_bootstrap, settings_.database_url)
        registry.auth = auth
        port = int(registry_url.rsplit(":", 1)[1])
        suffix = uuid.uuid4().hex[:12]
        connect = connect_settings(
            data_dir / "connect", kafka_bootstrap, registry_url, suffix, auth=auth
        )
        with (
            serve_app(create_registry(registry), port=port),
            serve_app(create_connect(connect)) as connect_server,
        ):
            token = await broad_token(gateway)
            urls = {"gateway": gateway.url, "registry": registry_url, "connect": connect_server.url}
            yield FuzzHub(urls, token)


async def broad_token(gateway: Gateway) -> str:
    client_id, secret = await gateway.create_client(scopes=SCOPES)
    return await gateway.token(client_id, secret, " ".join(SCOPES))


@dataclass
class Finding:
    operation: str
    status: int
    request: str
    body: str


def fuzz(schema: Any, headers: dict[str, str]) -> Iterator[Finding]:
    """Every 5xx the operations of ``schema`` answer to generated requests."""
    session = requests.Session()
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in MODES:
            yield from fuzz_operation(operation.as_strategy(generation_mode=mode), session, headers)


def fuzz_operation(
    strategy: st.SearchStrategy[Any], session: requests.Session, headers: dict[str, str]
) -> list[Finding]:
    found: list[Finding] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,  # the same requests every run: a failure is reproducible
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def run(case: Any) -> None:
        response = case.call(session=session, headers=headers, timeout=60)
        if response.status_code >= 500:
            request = response.request
            found.append(
                Finding(
                    case.operation.label,
                    response.status_code,
                    f"{request.method} {request.url} body={str(request.body)[:300]}",
                    response.text[:300],
                )
            )

    with contextlib.suppress(Unsatisfiable):  # no invalid request exists (no parameters)
        run()
    return found


# schemathesis's negative mode draws from `random` inside its strategies, which hypothesis warns of
SCHEMATHESIS_RANDOM = "ignore::hypothesis.errors.HypothesisDeprecationWarning"


@pytest.mark.timeout(600)
@pytest.mark.filterwarnings(SCHEMATHESIS_RANDOM)
@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("authenticated", [False, True], ids=["anonymous", "token"])
def test_no_operation_answers_a_5xx(fuzz_hub: FuzzHub, service: str, authenticated: bool) -> None:
    url = fuzz_hub.urls[service]
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    schema.config.base_url = url  # type: ignore[attr-defined]
    headers = {"Authorization": f"Bearer {fuzz_hub.token}"} if authenticated else {}
    started = time.monotonic()
    findings = list(fuzz(schema, headers))
    elapsed = time.monotonic() - started
    assert not findings, "\n".join(
        f"{f.operation}: {f.status} for {f.request} -> {f.body}" for f in findings
    )
    assert elapsed < 300, f"fuzzing {service} took {elapsed:.0f} s"


@pytest.mark.filterwarnings(SCHEMATHESIS_RANDOM)
def test_the_fuzzer_sees_a_5xx(tmp_path: Path, kafka_bootstrap: str) -> None:
    """The harness finds what it looks for: a route that fails is reported."""
    router = APIRouter(route_class=JsonRoute)

    @router.get("/items/{item}")
    async def item(item: int) -> dict[str, int]:
        return {"item": 1 // (item - item)}  # a bug: always divides by zero

    settings_ = ServiceSettings(data_dir=tmp_path, kafka=KafkaSettings(bootstrap=kafka_bootstrap))
    with serve_app(create_service_app("buggy", settings_, routers=[router])) as server:
        schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
        schema.config.base_url = server.url  # type: ignore[attr-defined]
        findings = list(fuzz(schema, {}))
    assert {f.operation for f in findings} == {"GET /items/{item}"}
    assert all(f.status == 500 for f in findings)
