"""A route that fails unexpectedly, on a real uvicorn server: the client gets a 500 in the
service's format naming the request id (body and ``X-Request-ID``), the fault is logged with its
traceback and that id, and the client's keep-alive connection serves its next request."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, Request
from starlette.responses import StreamingResponse

from services.core.config import KafkaSettings, ServiceSettings
from services.core.http.errors import ErrorRenderer, confluent_json, problem_json
from services.core.http.json_body import JsonRoute
from services.core.http.service import create_service_app
from tests.fixtures.servers import serve_app


class Boom(RuntimeError):
    pass


def faulty_router() -> APIRouter:
    router = APIRouter(route_class=JsonRoute)

    @router.get("/port")
    async def port(request: Request) -> dict[str, int]:
        assert request.client is not None
        return {"port": request.client.port}

    @router.get("/fault")
    async def fault() -> None:
        raise Boom("a bug, not the client's doing")

    @router.get("/fault-midway")
    async def fault_midway() -> StreamingResponse:
        async def chunks() -> Iterator[bytes]:  # type: ignore[misc]
            yield b"half"
            raise Boom("a bug after the answer began")

        return StreamingResponse(chunks())

    return router


def logged_fault(caplog: pytest.LogCaptureFixture, text: str) -> logging.LogRecord:
    """The error record of a fault (ndxp's log handler, which runs first, gave it the id)."""
    found = [r for r in caplog.records if r.levelno == logging.ERROR and text in r.getMessage()]
    assert len(found) == 1, [r.getMessage() for r in caplog.records]
    return found[0]


@pytest.fixture(params=[problem_json, confluent_json], ids=["problem", "confluent"])
def server_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    render: ErrorRenderer = request.param
    settings = ServiceSettings(data_dir=tmp_path, kafka=KafkaSettings(bootstrap="127.0.0.1:1"))
    app = create_service_app("faulty", settings, routers=[faulty_router()], render=render)
    with serve_app(app) as server:
        yield server.url


async def test_a_fault_is_a_500_with_the_request_id_on_a_connection_that_stays(
    server_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    rid = f"fault-{uuid.uuid4().hex}"
    async with httpx.AsyncClient(base_url=server_url, timeout=10) as http:
        before = (await http.get("/port")).json()["port"]
        response = await http.get("/fault", headers={"X-Request-ID": rid})
        after = (await http.get("/port")).json()["port"]

    assert response.status_code == 500
    assert response.headers["x-request-id"] == rid
    assert response.headers.get("connection", "").lower() != "close"
    assert rid in response.text  # problem+json's instance, or Confluent's message
    body = response.json()
    assert body.get("code", body.get("error_code")) in ("internal_error", 50001)
    assert before == after, "the 500 closed the client's connection"

    record = logged_fault(caplog, "GET /fault failed")
    assert record.request_id == rid  # type: ignore[attr-defined]  # ndxp's log lines carry it
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], Boom)


async def test_a_fault_after_the_answer_began_is_logged_with_the_request_id(
    server_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Half an answer is out: the connection must close (nothing else tells the client), but
    the fault is still logged with the request id."""
    rid = f"midway-{uuid.uuid4().hex}"
    async with httpx.AsyncClient(base_url=server_url, timeout=10) as http:
        with pytest.raises(httpx.HTTPError):
            await http.get("/fault-midway", headers={"X-Request-ID": rid})
        assert (await http.get("/port")).status_code == 200  # the server serves on
    record = logged_fault(caplog, "GET /fault-midway failed")
    assert record.request_id == rid  # type: ignore[attr-defined]
