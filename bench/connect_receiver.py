"""The webhook receiver of ``bench-connect webhook-sink``: a bare ASGI app, run by uvicorn in a
process of its own so that it takes no CPU time from the benchmark or the connect worker's loop.

``POST /hook`` checks the ``ndxp-signature`` of the body with the secret in
``BENCH_WEBHOOK_SECRET`` (:func:`~services.connectors.plugins.webhook.verify_signature`, as a
consumer's endpoint would), answers 401 to a bad one and 204 to a good one, and counts the
records of the body, distinct by partition and offset (a redelivered request counts once).
``GET /count`` tells the benchmark how far delivery has come, with the receiver's own CPU time
(to show it was not the bottleneck). Run it with
``uvicorn --factory bench.connect_receiver:create_app --lifespan off``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from services.connectors.plugins.webhook import SIGNATURE_HEADER, verify_signature

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

SECRET_VARIABLE = "BENCH_WEBHOOK_SECRET"  # noqa: S105 - the name of a variable, not a secret
_SIGNATURE = SIGNATURE_HEADER.encode()


class Receiver:
    """Counts signed webhook deliveries; see the module's docstring."""

    def __init__(self, secret: str) -> None:
        self.secret = secret.encode()
        self.requests = 0
        self.records = 0
        self.bad_signatures = 0
        self.seen: set[tuple[int, int]] = set()
        self.first_at: float | None = None  # wall-clock time of the first delivery
        self.first_records = 0
        self.last_at: float | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        route = (scope["method"], scope["path"])
        if route == ("POST", "/hook"):
            status = self.take(await _body(receive), dict(scope["headers"]).get(_SIGNATURE))
            await _answer(send, status, b"")
        elif route == ("GET", "/count"):
            await _answer(send, 200, json.dumps(self.count()).encode())
        else:
            await _answer(send, 404, b"")

    def take(self, body: bytes, signature: bytes | None) -> int:
        """Count one delivery; the HTTP status to answer."""
        if signature is None or not verify_signature(self.secret, signature.decode(), body):
            self.bad_signatures += 1
            return 401
        records = json.loads(body)["records"]
        self.seen.update((record["partition"], record["offset"]) for record in records)
        self.requests += 1
        self.records += len(records)
        self.last_at = time.time()
        if self.first_at is None:
            self.first_at, self.first_records = self.last_at, len(records)
        return 204

    def count(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "records": self.records,
            "distinct": len(self.seen),
            "bad_signatures": self.bad_signatures,
            "first_at": self.first_at,
            "first_records": self.first_records,
            "last_at": self.last_at,
            "cpu_seconds": time.process_time(),
        }


async def _body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _answer(send: Send, status: int, body: bytes) -> None:
    # 204 No Content must not carry a length; the others do, so the connection stays open cheaply
    headers = [] if status == 204 else [(b"content-length", str(len(body)).encode())]
    if body:
        headers.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def create_app() -> Receiver:
    """The receiver, its secret from ``BENCH_WEBHOOK_SECRET``."""
    return Receiver(os.environ[SECRET_VARIABLE])
