"""Hostile JSON at connect: integers beyond 64 bits or 4,300 digits and bodies nested 10,000
deep in connector configs and offsets are 400 problems; no connector is created."""

from __future__ import annotations

from services.core.bounded_json import DEFAULT_MAX_DEPTH
from tests.integration.connect.conftest import Connect

DEEP = 10_000


async def test_hostile_bodies_are_400_and_create_nothing(connect: Connect) -> None:
    deep = "[" * DEEP + "]" * DEEP
    cases = {
        ("POST", "/connectors"): [
            ('{"name": "hostile", "config": {"tasks.max": %s}}', "json_number_out_of_range"),
            ('{"name": "hostile", "config": {"x": DEEP}}', "json_too_deep"),
        ],
        ("PUT", "/connectors/hostile/config"): [
            ('{"tasks.max": %s}', "json_number_out_of_range"),
            ('{"x": DEEP}', "json_too_deep"),
        ],
        ("PATCH", "/connectors/hostile/offsets"): [
            ('{"offsets": [{"partition": {}, "offset": {"id": %s}}]}', "json_number_out_of_range"),
        ],
    }
    async with connect.serve() as http:
        for (method, path), bodies in cases.items():
            for template, code in bodies:
                for number in (str(2**63), "9" * 4_301):
                    content = template.replace("%s", number).replace("DEEP", deep)
                    response = await http.request(
                        method, path, content=content, headers={"Content-Type": "application/json"}
                    )
                    assert response.status_code == 400, (path, response.text)
                    assert response.json()["code"] == code
                    if code == "json_too_deep":
                        assert f"deeper than {DEFAULT_MAX_DEPTH}" in response.json()["detail"]
        assert "hostile" not in (await http.get("/connectors")).json()
