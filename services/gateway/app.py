"""The gateway: the hub's one public entry point, port 8080."""

from __future__ import annotations

from fastapi import FastAPI

from services.core.config import GatewaySettings
from services.core.http.service import create_service_app


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    return create_service_app("gateway", settings or GatewaySettings())
