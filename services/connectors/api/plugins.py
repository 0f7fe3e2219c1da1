"""``/connector-plugins``: what is installed, and checking a config without creating anything."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body

from services.connectors.api.deps import WorkerDep
from services.connectors.config_info import config_infos
from services.connectors.configs import describe
from services.connectors.plugin import plugins
from services.connectors.worker import ConnectorNotFound
from services.core.http.json_body import JsonRoute
from services.core.http.openapi import raises

router = APIRouter(prefix="/connector-plugins", tags=["connector-plugins"], route_class=JsonRoute)


class PluginNotFound(ConnectorNotFound):
    code = "plugin_not_found"
    title = "Plugin not found"


@router.get("")
async def list_plugins() -> list[dict[str, Any]]:
    """Every installed plugin with the JSON schema of its config: the shared keys and its own."""
    return [describe(name, cls) for name, cls in sorted(plugins().items())]


@router.put("/{plugin}/config/validate", responses=raises(PluginNotFound))
async def validate_config(
    plugin: str, config: Annotated[dict[str, Any], Body()], worker: WorkerDep
) -> dict[str, Any]:
    """Kafka Connect's ``ConfigInfos``: every key's definition, value and errors (the worker's
    guard rails' too)."""
    cls = plugins().get(plugin)
    if cls is None:
        raise PluginNotFound(f"no plugin {plugin!r} is installed")
    rails = [] if worker.rails is None else worker.rails.errors(config)
    return config_infos(plugin, cls, config, rails)
