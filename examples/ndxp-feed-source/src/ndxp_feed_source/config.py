"""``feed-source``'s settings: the keys of a connector config beside the worker's own
(``connector.class``, ``dataset``, ``errors.tolerance``, ``transforms``).

``GET /connector-plugins`` shows this model as JSON schema, descriptions included, and the worker
checks every config against it before it accepts one: unknown keys are errors.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, SecretStr

from services.connectors.plugin import PluginConfig


def _http_url(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    return url


class FeedSourceConfig(PluginConfig):
    url: Annotated[str, AfterValidator(_http_url)] = Field(
        description="The feed's URL (RSS 2.0 or Atom, http or https)."
    )
    token: SecretStr | None = Field(
        default=None,
        description="Sent as 'Authorization: Bearer <token>' (give it as ${env:NAME}).",
    )
    timeout_seconds: float = Field(default=30.0, gt=0, description="Timeout of one request.")
    max_bytes: int = Field(
        default=10 * 1024 * 1024, gt=0, description="A larger document fails the poll."
    )
    poll_interval_seconds: float = Field(
        default=300.0, gt=0, description="Seconds between two requests for the feed."
    )
