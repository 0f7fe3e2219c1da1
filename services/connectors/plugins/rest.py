"""``rest-source``: the items of an agency's HTTP JSON API, polled in cycles.

A cycle walks the API's pages (by page number, offset, cursor, or the RFC 8288 ``Link`` header)
to the last one; the next cycle starts ``poll_interval_seconds`` later. Each page is one batch
whose offset says where paging stands (``{"watermark", "at", "next", "max_seen", "max_seen_at"}``),
so a worker that crashes mid-cycle resumes at the next page, not the first; once the cycle is done
the offset is ``{"watermark": <the latest watermark field value seen>, "at": [...]}``.

With ``watermark`` a cycle asks only for the items changed since the last one (the watermark as a
query parameter) and drops the items the API gives that are before it, and those at exactly it
that an earlier cycle sent: ``at`` holds their identities (the ``id_field`` value, else a digest of
the item), so an item stamped with that same value but shown by the API only later is still sent
(:mod:`.rest_paging` says why and how, and how an offset from before ``at`` reads). A record's
position is the item's id (or a digest of the item) and its watermark value: the same version of
an item always gets the same event id, an updated one a new event id. Without ``watermark`` every
cycle reads every item again (with the same event ids), as a bulk source does.

A failing API (transport error, 5xx, 429, any other 4xx) or token endpoint raises: the worker
retries the poll with back-off and fails the connector after its retry budget. An item that cannot
be mapped is a record with ``error``, which the worker dead-letters. APIs often send numbers, flags
and dates as strings: the worker converts them to the contract's types (``date_format``,
``timestamp_format``, ``timezone``: :mod:`services.connectors.text_values`).

The config models are in :mod:`.rest_config`, the cycle's offset, the watermark order and the
``Link`` parser in :mod:`.rest_paging`; OAuth2 tokens come from
:mod:`services.connectors.credentials`.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Generator
from typing import Any, Final

import httpx
from pydantic import SecretStr

from services.connectors.credentials import ClientCredentialsAuth, TokenRefused
from services.connectors.excerpts import excerpt
from services.connectors.plugin import Batch, Offset, SourceConnector, SourceRecord
from services.connectors.plugins.rest_config import (
    BasicAuth,
    BearerAuth,
    CursorPaging,
    LinkPaging,
    OAuth2Auth,
    OffsetPaging,
    PagePaging,
    RestSourceConfig,
)
from services.connectors.plugins.rest_paging import (
    Cycle,
    Latest,
    canonical,
    next_link,
    same_origin,
)

ABSENT: Final = object()  # a field that is not there, unlike one that is null


class ApiError(Exception):
    """The API (or its token endpoint) failed or answered something unusable."""


class BearerToken(httpx.Auth):
    def __init__(self, token: SecretStr) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token.get_secret_value()}"
        yield request


def client_credentials(
    config: OAuth2Auth, timeout: float, clock: Callable[[], float] = time.monotonic
) -> ClientCredentialsAuth:
    """The auth flow of an ``oauth2`` config; ``timeout`` is that of the token request."""
    secret = config.client_secret.get_secret_value()
    return ClientCredentialsAuth(
        config.token_url,
        config.client_id,
        secret,
        config.scope,
        client_auth=config.client_auth,
        timeout=timeout,
        clock=clock,
    )


class RestSource(SourceConnector):
    Config = RestSourceConfig
    config: RestSourceConfig
    client: httpx.AsyncClient | None = None
    transport: httpx.AsyncBaseTransport | None = None  # None: the network (tests set a mock)

    async def start(self) -> None:
        self.client = httpx.AsyncClient(
            headers={"Accept": "application/json", **self.config.headers},
            timeout=self.config.timeout_seconds,
            auth=self._auth(),
            follow_redirects=True,
            transport=self.transport,
        )

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.aclose()

    def _auth(self) -> httpx.Auth | None:
        auth = self.config.auth
        if isinstance(auth, BasicAuth):
            return httpx.BasicAuth(auth.username, auth.password.get_secret_value())
        if isinstance(auth, BearerAuth):
            return BearerToken(auth.token)
        if isinstance(auth, OAuth2Auth):
            return client_credentials(auth, self.config.timeout_seconds)
        return None

    async def poll(self, offset: Offset | None) -> Batch:
        cycle = Cycle.of(offset)
        items, following = await self._page(cycle)
        records: list[SourceRecord] = []
        latest = Latest(cycle.max_seen, cycle.max_seen_at)
        for item in items:
            record, mark, identity = self.record(item, cycle)
            latest.add(mark, identity)
            if record is not None:
                records.append(record)
        new: Offset = {"watermark": latest.value}
        if following is not None:
            new = {"watermark": cycle.watermark, "next": following, "max_seen": latest.value}
        if self.config.watermark is not None:  # without one every cycle reads every item
            at = latest.bounded(f"rest-source {self.name}")
            new |= {"at": at} if following is None else {"at": list(cycle.at), "max_seen_at": at}
        return Batch(records, new, more=following is not None)

    async def _page(self, cycle: Cycle) -> tuple[list[Any], Any]:
        """The items of the cycle's next page, and where the page after it is (None: none)."""
        paging, url = self.config.paging, self.config.url
        params: dict[str, Any] = dict(self.config.params)
        if cycle.watermark is not None and self.config.watermark is not None:
            params[self.config.watermark.param] = query_value(cycle.watermark)
        start = 0
        if isinstance(paging, PagePaging):
            start = paging.first if cycle.next is None else int(cycle.next)
            params |= {paging.param: start, paging.size_param: paging.size}
        elif isinstance(paging, OffsetPaging):
            start = 0 if cycle.next is None else int(cycle.next)
            params |= {paging.param: start, paging.limit_param: paging.limit}
        elif isinstance(paging, CursorPaging) and cycle.next is not None:
            params[paging.param] = cycle.next
        query: httpx.QueryParams | None = httpx.URL(url).params.merge(params)
        if isinstance(paging, LinkPaging) and cycle.next is not None:
            url, query = str(cycle.next), None  # the link carries every parameter itself
        response = await self._get(url, query)
        items = self._items(response)
        if isinstance(paging, PagePaging):
            return items, (start + 1 if len(items) >= paging.size else None)
        if isinstance(paging, OffsetPaging):
            return items, (start + len(items) if len(items) >= paging.limit else None)
        following: Any = None
        if isinstance(paging, CursorPaging):
            following = lookup(response.json(), paging.path)
            following = None if following == "" else following
        elif isinstance(paging, LinkPaging):
            following = next_link(response.headers.get_list("link"), str(response.url))
            if following is not None and not same_origin(following, self.config.url):
                # the credentials are for the configured API: never sent to another host
                raise ApiError(f"the next link {following} leaves the API's origin")
        if following is not None and following == cycle.next:
            raise ApiError(f"the API gave the same next page again ({following}): a paging loop")
        return items, following

    async def _get(self, url: str, params: httpx.QueryParams | None) -> httpx.Response:
        """GET ``url``; ``params``, when given, replace its query (httpx's rule)."""
        assert self.client is not None  # noqa: S101 - started first
        where = httpx.URL(url).copy_with(query=None)  # query values may be API keys: not shown
        try:
            response = await self.client.get(url, params=params)
        except httpx.TransportError as exc:
            raise ApiError(f"GET {where}: {type(exc).__name__}: {exc}") from exc
        except TokenRefused as exc:
            raise ApiError(f"GET {where}: {exc.message}") from exc
        # 5xx and 429 pass, others (a 401 after a new token, 403, 404) persist: all raise, and
        # the worker's back-off and retry budget decide, failing the connector with this message
        if not response.is_success:
            status, text = response.status_code, excerpt(response.text)
            raise ApiError(f"GET {where}: the API answered {status}: {text}")
        return response

    def _items(self, response: httpx.Response) -> list[Any]:
        try:
            body = response.json()
        except ValueError as exc:
            raise ApiError(f"the API's answer is not JSON: {excerpt(response.text)}") from exc
        path = self.config.records_path
        try:
            items = dig(body, path)
        except KeyError as exc:
            raise ApiError(f"the API's answer has no {path!r}: {excerpt(response.text)}") from exc
        if items is None:
            return []
        if not isinstance(items, list):
            raise ApiError(f"{path or 'the body'} of the API's answer is not a list")
        return items

    def record(self, item: Any, cycle: Cycle) -> tuple[SourceRecord | None, Any, Any]:
        """The item as a record (None: an earlier cycle sent it), its watermark value and its
        identity (the id, else the digest: what ``at`` holds)."""
        if not isinstance(item, dict):
            reason = f"the item is not a JSON object: {excerpt(canonical(item))}"
            return SourceRecord({"digest": digest(item)}, None, None, reason), None, None
        cfg = self.config
        mark = None
        if cfg.watermark is not None:
            mark = lookup(item, cfg.watermark.field)
            if cycle.is_old(mark):
                return None, None, None  # before the watermark: no identity (digest) needed
        named = [cfg.id_field, cfg.key_field, cfg.watermark and cfg.watermark.field, *cfg.mapping]
        found = {path: lookup(item, path, ABSENT) for path in named if path}
        if cfg.watermark is not None and mark is None:
            found[cfg.watermark.field] = ABSENT  # null cannot be placed after a watermark
        if cfg.id_field is not None and found[cfg.id_field] is not ABSENT:
            position: dict[str, Any] = {"id": found[cfg.id_field]}
        else:
            position = {"digest": digest(item)}
        identity = next(iter(position.values()))
        if cycle.sent(mark, identity):
            return None, mark, identity
        if cfg.watermark is not None:
            position["watermark"] = mark
        key = None
        if cfg.key_field is not None and found[cfg.key_field] is not ABSENT:
            value = found[cfg.key_field]
            key = value if isinstance(value, str) else canonical(value)
        missing = [path for path, value in found.items() if value is ABSENT]
        if missing:
            # no value: the DLQ must not hold what the connector's transforms would mask
            reason = f"the item has no field(s) {missing}"
            return SourceRecord(position, None, key, reason), mark, identity
        value = {field: found[path] for path, field in cfg.mapping.items()} if cfg.mapping else item
        return SourceRecord(position, value, key), mark, identity


def dig(document: Any, path: str) -> Any:
    """The value at dotted ``path`` (``data.items``, ``results.0.id``) of a JSON document; the
    document itself for an empty path. :class:`KeyError` when there is nothing there."""
    value = document
    for part in path.split(".") if path else ():
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise KeyError(path)
    return value


def lookup(document: Any, path: str, default: Any = None) -> Any:
    try:
        return dig(document, path)
    except KeyError:
        return default


def query_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def digest(item: Any) -> str:
    return hashlib.sha256(canonical(item).encode()).hexdigest()[:32]
