"""The schema registry service (Confluent Schema Registry API), port 8081."""

from __future__ import annotations

from fastapi import FastAPI

from services.core.config import RegistrySettings
from services.core.http.service import create_service_app


def create_app(settings: RegistrySettings | None = None) -> FastAPI:
    return create_service_app("registry", settings or RegistrySettings())
