"""The connect service: connector workers with a Kafka Connect-style REST API, port 8083."""

from __future__ import annotations

from fastapi import FastAPI

from services.core.config import ConnectSettings
from services.core.http.service import create_service_app


def create_app(settings: ConnectSettings | None = None) -> FastAPI:
    return create_service_app("connect", settings or ConnectSettings())
