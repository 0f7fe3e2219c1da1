"""A registry that answers 500 once: the gateway's next call to it works (nothing cached, no
broken connection kept). A real registry behind a real HTTP front that fails on demand."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from fastapi import FastAPI, Request, Response

from services.core.avro.contract_cache import LATEST_SECONDS
from services.core.config import AuthSettings
from services.registry.app import create_app as create_registry
from tests.fixtures.catalog import Hub
from tests.fixtures.gateway import gateway_settings, serve_gateway
from tests.fixtures.registry import registry_settings
from tests.fixtures.servers import serve_app
from tests.integration.gateway.catalog_data import dataset_body, problem
from tests.integration.gateway.test_publish import (
    WRITER,
    make_dataset,
    post,
    reading,
    reading_contract,
)

_HOP_HEADERS = ("content-length", "transfer-encoding", "connection")


@dataclass
class Faults:
    """How the front fails the next matching requests: (path part, status, body, close)."""

    pending: list[tuple[str, int, bytes, bool]] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def flaky_front(registry_url: str, faults: Faults) -> FastAPI:
    """Forwards everything to the registry, except a request matched by a pending fault."""
    app = FastAPI()

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "DELETE"])
    async def forward(path: str, request: Request) -> Response:
        for fault in faults.pending:
            part, status, body, close = fault
            if part in request.url.path:
                faults.pending.remove(fault)
                faults.failed.append(request.url.path)
                headers = {"Connection": "close"} if close else {}
                return Response(body, status, headers=headers, media_type="text/html")
        async with httpx.AsyncClient(base_url=registry_url) as client:
            upstream = await client.request(
                request.method,
                f"/{path}",
                params=request.query_params,
                content=await request.body(),
                headers={k: v for k, v in request.headers.items() if k != "host"},
            )
        headers = {k: v for k, v in upstream.headers.items() if k not in _HOP_HEADERS}
        return Response(upstream.content, upstream.status_code, headers=headers)

    return app


@contextmanager
def hub_behind_front(tmp_path: Path, bootstrap: str, faults: Faults) -> Iterator[Hub]:
    with serve_app(FastAPI()) as placeholder:  # a free port for the registry, known in advance
        registry_port = int(placeholder.url.rsplit(":", 1)[1])
    registry_url = f"http://127.0.0.1:{registry_port}"
    with serve_app(flaky_front(registry_url, faults)) as front:
        settings = gateway_settings(tmp_path / "hub", bootstrap, registry_url=front.url)
        with serve_gateway(settings) as gateway:
            registry = registry_settings(
                tmp_path / "hub" / "registry", bootstrap, settings.database_url
            )
            registry.auth = AuthSettings(issuer=gateway.issuer, require_tokens=True)
            with serve_app(create_registry(registry), port=registry_port):
                yield Hub(gateway, front.url)


async def test_a_registry_500_does_not_break_the_next_call(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    faults = Faults()
    with hub_behind_front(tmp_path, kafka_bootstrap, faults) as hub:
        owner = await hub.caller(*WRITER)
        # registering a dataset's contract
        faults.pending.append(("/subjects/", 500, b"oops", True))
        async with hub.http(owner) as http:
            body = dataset_body(owner.agency, schema=reading_contract(owner.agency))
            refused = await http.post("/v1/datasets", json=body)
            assert refused.status_code == 503, refused.text
            assert faults.failed
        dataset = await make_dataset(hub, owner, partitions=1)
        # the /registry proxy passes the registry's answer on; the next call is unaffected
        faults.pending.append(("/subjects", 500, b"oops", True))
        async with hub.http(owner) as http:
            passed_on = await http.get("/registry/subjects")
            assert passed_on.status_code == 500, passed_on.text
            listed = await http.get("/registry/subjects")
            assert listed.status_code == 200, listed.text
            assert f"{dataset.topic}-value" in listed.json()
        # reading the contract to publish with: a Confluent error body, then an HTML one
        for body_sent, close in ((b'{"error_code": 50001, "message": "boom"}', False),
                                 (b"<html>Internal Server Error</html>", True)):  # fmt: skip
            await asyncio.sleep(LATEST_SECONDS + 0.2)  # the contract cached by a 201 expired
            faults.failed.clear()
            faults.pending.append(("/versions/latest", 500, body_sent, close))
            failed = await post(hub, owner, dataset.path, [reading(1)])
            problem(failed, 503, "unavailable")
            assert faults.failed, "the registry was not asked"
            # at once: no failure is remembered, no broken connection is reused
            answer = await post(hub, owner, dataset.path, [reading(2)])
            assert answer.status_code == 201, answer.text
            again = await post(hub, owner, dataset.path, [reading(3)])
            assert again.status_code == 201, again.text
