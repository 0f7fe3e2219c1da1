"""The demo that ``ndxp up`` seeds on a fresh data dir, so a first-time user has something to call:
agency ``demo``, a client of it holding every scope (credentials in ``<data dir>/demo-client.json``,
readable by the owner only) and the dataset ``demo.air-quality``. ``NDXP_DEMO=false`` skips it.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Final

import httpx

from services.core.auth.identities import DEMO_CLIENT_FILE, ClientSecret, write_client_file
from services.core.auth.principal import SCOPES
from services.core.config import ServiceSettings
from services.core.db.engine import session_factory
from services.core.errors import Conflict
from services.core.files import private_file
from services.gateway.identity.agencies import AgencyIn, ClientIn, create_agency, create_client

log = logging.getLogger("ndxp.demo")

AGENCY: Final = "demo"
DATASET: Final = "air-quality"
CONTRACT: Final = {
    "type": "record",
    "name": "AirQualityReading",
    "namespace": "vn.gov.demo",
    "doc": "An hourly reading of an air quality monitoring station.",
    "fields": [
        {"name": "station_code", "type": "string", "doc": "The monitoring station's code."},
        {"name": "province_code", "type": "int", "doc": "Province code (Decision 124/2004)."},
        {
            "name": "measured_at",
            "type": {"type": "long", "logicalType": "timestamp-millis"},
            "doc": "When the hour's measurement ended.",
        },
        {"name": "pm25", "type": "double", "doc": "PM2.5 concentration, µg/m³."},
        {"name": "aqi", "type": "int", "doc": "Vietnam AQI (VN_AQI) of the hour."},
    ],
}


def credentials_file(settings: ServiceSettings) -> Path:
    return settings.data_dir / DEMO_CLIENT_FILE


def enabled() -> bool:
    return os.environ.get("NDXP_DEMO", "true").lower() not in {"0", "false", "no"}


async def seed_identity(settings: ServiceSettings, engine: Any) -> dict[str, str] | None:
    """The demo agency and client, created once; their credentials (None when disabled)."""
    path = credentials_file(settings)
    if not enabled():
        return None
    if path.exists():
        found: dict[str, str] = json.loads(private_file(path).read_text())
        return found
    sessions = session_factory(engine)
    try:
        await create_agency(sessions, AgencyIn(id=AGENCY, name="Demo agency", kind="other"))
    except Conflict:
        log.info("agency %s exists already", AGENCY)
    issued = await create_client(
        sessions, AGENCY, ClientIn(name="demo tool", scopes=sorted(SCOPES))
    )
    write_client_file(path, ClientSecret(issued.client.id, issued.secret))
    return {"client_id": issued.client.id, "client_secret": issued.secret}


async def seed_dataset(gateway_url: str, client: dict[str, str]) -> None:
    """``demo.air-quality``, created through the gateway like any agency would."""
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as http:
        answer = await http.post(
            "/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(client["client_id"], client["client_secret"]),
        )
        answer.raise_for_status()
        headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        if (await http.get(f"/v1/catalog/{AGENCY}.{DATASET}", headers=headers)).status_code == 200:  # noqa: PLR2004
            return
        created = await http.post(
            "/v1/datasets",
            headers=headers,
            json={
                "name": DATASET,
                "title": "Air quality (demo)",
                "description": "Hourly readings of air quality monitoring stations.",
                "theme": "environment",
                "keywords": ["air", "pm2.5", "aqi"],
                "access_rights": "PUBLIC",
                "licence": "CC-BY-4.0",
                "contact_point": {"name": "Demo agency", "email": "demo@example.gov.vn"},
                "partitions": 3,
                "schema": json.dumps(CONTRACT),
            },
        )
        if created.status_code != 201:  # noqa: PLR2004
            log.warning("the demo dataset was not created: %s", created.text)
