"""The configuration of ``rest-source``: the API's URL, how to authenticate to it, how it pages its
items, and which of their fields make a record.

Each choice with variants (``auth``, ``paging``) is a union told apart by its ``type``, so a config
names exactly the keys of its variant; secrets are ``SecretStr``, masked wherever a config is shown.
"""

from __future__ import annotations

from typing import Annotated, Literal

import httpx
from pydantic import AfterValidator, Field, SecretStr

from services.connectors.credentials import ClientAuth
from services.connectors.plugin import PluginConfig
from services.connectors.text_values import TextValues


def _http_url(url: str) -> str:
    if httpx.URL(url).scheme not in ("http", "https"):
        raise ValueError("must be an http:// or https:// URL")
    return url


HttpUrl = Annotated[str, AfterValidator(_http_url)]


class NoAuth(PluginConfig):
    type: Literal["none"] = "none"


class BasicAuth(PluginConfig):
    type: Literal["basic"]
    username: str = Field(description="HTTP Basic user name.")
    password: SecretStr = Field(description="HTTP Basic password.")


class BearerAuth(PluginConfig):
    type: Literal["bearer"]
    token: SecretStr = Field(description="Sent as 'Authorization: Bearer <token>'.")


class OAuth2Auth(PluginConfig):
    type: Literal["oauth2"]
    token_url: HttpUrl = Field(description="The authorization server's token endpoint (http(s)).")
    client_id: str = Field(description="OAuth2 client id (client credentials grant).")
    client_secret: SecretStr = Field(description="OAuth2 client secret.")
    scope: str | None = Field(default=None, description="Space-separated scopes to ask for.")
    client_auth: ClientAuth = Field(
        default="basic",
        description="How the client authenticates to the token endpoint: HTTP Basic "
        "(client_secret_basic, RFC 6749's default) or form fields (client_secret_post).",
    )


Auth = Annotated[NoAuth | BasicAuth | BearerAuth | OAuth2Auth, Field(discriminator="type")]


class NoPaging(PluginConfig):
    type: Literal["none"] = "none"


class PagePaging(PluginConfig):
    type: Literal["page"]
    param: str = Field(default="page", description="Query parameter of the page number.")
    size_param: str = Field(default="size", description="Query parameter of the page size.")
    size: int = Field(default=100, ge=1, description="Items per page; a shorter page is the last.")
    first: int = Field(default=1, description="Number of the first page.")


class OffsetPaging(PluginConfig):
    type: Literal["offset"]
    param: str = Field(default="offset", description="Query parameter of the offset.")
    limit_param: str = Field(default="limit", description="Query parameter of the page size.")
    limit: int = Field(default=100, ge=1, description="Items per page; a shorter page is the last.")


class CursorPaging(PluginConfig):
    type: Literal["cursor"]
    param: str = Field(default="cursor", description="Query parameter the cursor is sent in.")
    path: str = Field(
        default="next_cursor", description="Dotted path of the next cursor in the body (null: end)."
    )


class LinkPaging(PluginConfig):
    type: Literal["link"]


Paging = Annotated[
    NoPaging | PagePaging | OffsetPaging | CursorPaging | LinkPaging, Field(discriminator="type")
]


class Watermark(PluginConfig):
    field: str = Field(description="Dotted path of the item's last-modified value.")
    param: str = Field(description="Query parameter the last cycle's watermark is sent in.")


class RestSourceConfig(TextValues):
    url: HttpUrl = Field(description="The API endpoint listing the items (http or https).")
    params: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Query parameters of every request."
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="HTTP headers of every request."
    )
    timeout_seconds: float = Field(default=30.0, gt=0, description="Timeout of one request.")
    auth: Auth = Field(default_factory=NoAuth, description="How to authenticate to the API.")
    records_path: str = Field(
        default="", description="Dotted path of the list of items in the body; empty: the body."
    )
    paging: Paging = Field(default_factory=NoPaging, description="How the API pages its items.")
    watermark: Watermark | None = Field(
        default=None, description="Ask only for the items changed since the last cycle."
    )
    id_field: str | None = Field(
        default=None,
        description="Dotted path of the item's id, which makes event ids deterministic; "
        "without it a digest of the item is used.",
    )
    mapping: dict[str, str] = Field(
        default_factory=dict,
        description="Item field (dotted path) → contract field; when given, only these are sent.",
    )
    key_field: str | None = Field(
        default=None, description="Dotted path of the item field whose value keys records."
    )
    poll_interval_seconds: float = Field(
        default=60.0, gt=0, description="Seconds between the end of a cycle and the next."
    )
