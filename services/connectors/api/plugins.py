"""``/connector-plugins``: what is installed, and checking a config without creating anything."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body

from services.connectors.configs import config_errors
from services.connectors.plugin import describe, plugins
from services.connectors.secrets import masked_config
from services.connectors.worker import ConnectorNotFound
from services.core.http.json_body import JsonRoute
from services.core.http.openapi import raises

router = APIRouter(prefix="/connector-plugins", tags=["connector-plugins"], route_class=JsonRoute)


class PluginNotFound(ConnectorNotFound):
    code = "plugin_not_found"
    title = "Plugin not found"


@router.get("")
async def list_plugins() -> list[dict[str, Any]]:
    return [describe(name, cls) for name, cls in sorted(plugins().items())]


@router.put("/{plugin}/config/validate", responses=raises(PluginNotFound))
async def validate_config(plugin: str, config: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    """Kafka Connect's answer shape, trimmed: the error count and each key's errors."""
    if plugin not in plugins():
        raise PluginNotFound(f"no plugin {plugin!r} is installed")
    errors = config_errors(config, plugin)
    shown = masked_config(config)
    names = sorted({*config, *(error["name"] for error in errors)})
    return {
        "name": plugin,
        "error_count": len(errors),
        "configs": [
            {
                "value": {
                    "name": name,
                    "value": shown.get(name),
                    "errors": [e["message"] for e in errors if e["name"] == name],
                }
            }
            for name in names
        ],
    }
