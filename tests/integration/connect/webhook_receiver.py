"""A consumer's webhook endpoint for tests: verifies signatures, keeps what it accepted, drops
repeats by delivery id, and can be told to fail or to be slow.

``Receiver.app()`` is a FastAPI app to serve with ``tests.fixtures.servers.serve_app`` (http on
loopback) or with :func:`serve_tls` (https with a self-signed certificate from
:func:`self_signed`). The app runs in the server's thread: the state is guarded by a lock.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import threading
from collections import deque
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi import FastAPI, Request, Response

from services.connectors.plugins.webhook import DELIVERY_HEADER, SIGNATURE_HEADER, verify_signature
from tests.fixtures.servers import RunningServer, serve_app


@dataclass(frozen=True)
class Arrival:
    """One request as it arrived, before the receiver decided anything."""

    delivery_id: str
    signature: str
    body: bytes
    headers: dict[str, str]
    signed: bool


@dataclass(frozen=True)
class Delivery:
    """A request the receiver accepted (first time its delivery id was seen)."""

    delivery_id: str
    records: list[dict[str, Any]]


@dataclass(frozen=True)
class Plan:
    status: int
    body: str = ""
    retry_after: str | None = None


@dataclass
class Receiver:
    secret: str
    tolerance_seconds: float = 300
    arrivals: list[Arrival] = field(default_factory=list)
    accepted: list[Delivery] = field(default_factory=list)
    repeats: int = 0
    _failures: deque[Plan] = field(default_factory=deque)
    _slow: deque[float] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(
        self, count: int, status: int, body: str = "", retry_after: str | None = None
    ) -> None:
        """Answer the next ``count`` signed requests with ``status``, taking nothing."""
        with self._lock:
            self._failures.extend(Plan(status, body, retry_after) for _ in range(count))

    def slow_next(self, count: int, seconds: float) -> None:
        """Take the next ``count`` requests but answer only after ``seconds``."""
        with self._lock:
            self._slow.extend(seconds for _ in range(count))

    @property
    def records(self) -> list[dict[str, Any]]:
        """Every record accepted, in the order accepted."""
        with self._lock:
            return [record for delivery in self.accepted for record in delivery.records]

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/hook")
        async def hook(request: Request) -> Response:
            body = await request.body()
            status, delay = self._receive(body, dict(request.headers))
            if delay:
                await asyncio.sleep(delay)
            if isinstance(status, Plan):
                headers = {"retry-after": status.retry_after} if status.retry_after else None
                return Response(status.body, status_code=status.status, headers=headers)
            return Response(status_code=status)

        return app

    def _receive(self, body: bytes, headers: dict[str, str]) -> tuple[int | Plan, float]:
        signature = headers.get(SIGNATURE_HEADER, "")
        signed = verify_signature(self.secret, signature, body, self.tolerance_seconds)
        delivery = headers.get(DELIVERY_HEADER, "")
        with self._lock:
            self.arrivals.append(Arrival(delivery, signature, body, headers, signed))
            delay = self._slow.popleft() if self._slow else 0.0
            if not signed:
                return 401, delay
            if self._failures:
                return self._failures.popleft(), delay
            if any(done.delivery_id == delivery for done in self.accepted):
                self.repeats += 1
            else:
                self.accepted.append(Delivery(delivery, json.loads(body)["records"]))
            return 204, delay


@dataclass(frozen=True)
class Certificate:
    cert_file: Path
    key_file: Path


def self_signed(directory: Path, *names: str) -> Certificate:
    """A certificate for ``localhost``, 127.0.0.1 and ``names``, signed by its own key (also its
    CA)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    *(x509.DNSName(name) for name in names),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "receiver.crt", directory / "receiver.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Certificate(cert_file, key_file)


def serve_tls(app: FastAPI, certificate: Certificate) -> AbstractContextManager[RunningServer]:
    """``serve_app`` over https with ``certificate``."""
    return serve_app(
        app, ssl_certfile=str(certificate.cert_file), ssl_keyfile=str(certificate.key_file)
    )
