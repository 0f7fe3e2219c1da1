"""``soap-source``: the items of a SOAP operation's response, called on a schedule.

Many government back-ends offer only SOAP. This source loads the service's WSDL once, in
:meth:`SoapSource.start` (zeep reads WSDL and XSD synchronously, so in a thread), then on every
poll calls ``operation`` with ``arguments`` through zeep's async client over httpx: the worker's
event loop never waits on the service. The response becomes plain dicts and lists
(``zeep.helpers.serialize_object``), ``records_path`` names the list of items in it, and each item
is mapped to a record of the dataset's contract.

Values are given in the contract's JSON form, which every field type it fits accepts:
``xsd:dateTime`` as ISO-8601 text (with the offset the service gave), ``xsd:date`` as
``YYYY-MM-DD``, ``xsd:base64Binary`` as base64; integers stay integers; an ``xsd:decimal`` is an
integer when it is whole, else a number when a double holds it exactly (both fit ``decimal``,
``double`` and, when whole, ``int`` and ``long`` fields), else text (a ``decimal`` field takes it,
a ``double`` could only round it).

Without ``watermark`` every poll reads the whole list (as sql-source's ``bulk`` mode): an item's
position is its id and a digest, so it keeps its event id while unchanged and consumers that
deduplicate see it once, and gets a new one when it changes. With ``watermark``, the last value of
its ``field`` is passed as its ``argument`` and the offset is ``{"watermark": <the latest value
seen>, "at": [...]}``: ``at`` names the items at exactly that value already sent (the ``id_field``
value, else the item's digest). Services often answer ``since`` inclusively, so the items before
the watermark and those at it named in ``at`` are skipped; an item stamped with exactly the
watermark that the service shows only on a later call (committed late in the same second) is
sent, not lost. The offset's tracking and the order of watermark values (times, numbers, text, by
their JSON form) are rest-source's (:mod:`.rest_paging` says why, how ``at`` stays bounded, and
why an offset from before ``at`` sends the items at its watermark once more, with the same event
ids). Values that cannot be ordered at all (a time and a number: the field or the service changed)
fail the poll rather than guess. An item without a watermark value cannot be placed: it is
dead-lettered (each time the service gives it).

zeep gives ``None`` both for an element the schema lets the service leave out and for a nil one:
it is passed on and the contract decides (a nullable field takes it, any other sends the record to
the DLQ with the reason). A mapped field the item does not have at all dead-letters the item, with
the item as received. A transport error or a SOAP Fault raises :class:`SoapFailed`: the worker
retries the poll with back-off, then fails the connector with the reason.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any, Final

import httpx
import zeep
from pydantic import Field, SecretStr
from zeep.exceptions import Error as ZeepError
from zeep.exceptions import Fault, TransportError
from zeep.helpers import serialize_object
from zeep.transports import AsyncTransport

from services.connectors.plugin import Batch, Offset, PluginConfig, SourceConnector, SourceRecord
from services.connectors.plugins.rest_paging import Cycle, Latest

MISSING: Final = object()  # a path that leads nowhere, unlike one to an absent (None) element
SHOWN: Final = 200  # characters of an error response's body quoted in a reason


class BasicAuth(PluginConfig):
    username: str = Field(description="HTTP basic auth user name.")
    password: SecretStr = Field(description="HTTP basic auth password.")


class Watermark(PluginConfig):
    field: str = Field(
        description="Item field (dotted path) that grows when an item changes, e.g. 'updated'."
    )
    argument: str = Field(
        description="Operation argument that receives the last watermark, e.g. 'since'."
    )


class SoapSourceConfig(PluginConfig):
    wsdl: str = Field(
        min_length=1, description="The service's WSDL: an http(s) URL or a local path."
    )
    service: str | None = Field(
        default=None, description="WSDL service to bind (default: the first one)."
    )
    port: str | None = Field(
        default=None, description="Port of the service to bind (default: its first one)."
    )
    operation: str = Field(min_length=1, description="Operation to call, e.g. 'GetPeople'.")
    arguments: dict[str, Any] = Field(
        default_factory=dict,
        description="Arguments of every call, by name. With a watermark, its argument's value "
        "here is the one of the first call.",
    )
    records_path: str = Field(
        default="",
        description="Dotted path to the list of items in the response, e.g. 'people.person'; "
        "empty: the response is the list.",
    )
    watermark: Watermark | None = Field(
        default=None,
        description="Read only what changed: the last value of 'field' is passed as 'argument'.",
    )
    id_field: str | None = Field(
        default=None, description="Item field that names an item in positions and the DLQ."
    )
    auth: BasicAuth | None = Field(default=None, description="HTTP basic auth.")
    timeout_seconds: float = Field(
        default=30.0, gt=0, description="Timeout of each HTTP request (WSDL and calls)."
    )
    mapping: dict[str, str] = Field(
        default_factory=dict,
        description="Item field (dotted path) → contract field; when given, only these are sent.",
    )
    key_field: str | None = Field(
        default=None, description="Item field (dotted path) whose value keys records."
    )
    poll_interval_seconds: float = Field(default=60.0, gt=0, description="Seconds between calls.")


class SoapFailed(Exception):
    """The WSDL could not be loaded or a call gave no response; the message says why."""


class SoapSource(SourceConnector):
    Config = SoapSourceConfig
    config: SoapSourceConfig
    http: httpx.AsyncClient | None = None
    operation: Any = None  # zeep's proxy of the operation: awaiting a call gives the response

    async def start(self) -> None:
        await self.stop()  # a start the worker retries must not leak the last one's client
        cfg = self.config
        auth = None
        if cfg.auth is not None:
            auth = httpx.BasicAuth(cfg.auth.username, cfg.auth.password.get_secret_value())
        timeout = httpx.Timeout(cfg.timeout_seconds)
        self.http = httpx.AsyncClient(auth=auth, timeout=timeout)
        try:
            client = await asyncio.to_thread(self._load, self.http, auth, timeout)
        except (ZeepError, httpx.HTTPError, OSError) as exc:
            raise SoapFailed(f"cannot load the WSDL {cfg.wsdl}: {reason(exc)}") from exc
        self.operation = self._bind(client)

    def _load(
        self, http: httpx.AsyncClient, auth: httpx.Auth | None, timeout: httpx.Timeout
    ) -> zeep.AsyncClient:
        """The client, with the WSDL and everything it imports read (blocking: in a thread)."""
        with httpx.Client(auth=auth, timeout=timeout) as wsdl_http:
            transport = AsyncTransport(client=http, wsdl_client=wsdl_http)  # type: ignore[no-untyped-call]
            return zeep.AsyncClient(self.config.wsdl, transport=transport)  # type: ignore[no-untyped-call]

    def _bind(self, client: zeep.AsyncClient) -> Any:
        cfg = self.config
        try:
            proxy = client.bind(cfg.service, cfg.port)
        except ValueError as exc:
            raise SoapFailed(f"the WSDL has no service {cfg.service!r} port {cfg.port!r}") from exc
        if proxy is None:
            raise SoapFailed(f"the WSDL {cfg.wsdl} defines no service")
        try:
            return proxy[cfg.operation]
        except AttributeError as exc:
            raise SoapFailed(f"the service has no operation {cfg.operation!r}") from exc

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.aclose()
            self.http = None

    async def poll(self, offset: Offset | None) -> Batch:
        cfg = self.config
        if cfg.watermark is None:
            items = self.items(await self.call(cfg.arguments))
            return Batch([self.record(item, self.position(item)) for item in items], None)
        cycle = Cycle.of(offset)  # one call, no pages: only the watermark and ``at`` matter
        arguments = dict(cfg.arguments)
        if cycle.watermark is not None:
            arguments[cfg.watermark.argument] = cycle.watermark
        items = self.items(await self.call(arguments))
        records, latest = self.changed(items, cycle, cfg.watermark.field)
        if latest.value is None:  # nothing placed yet: nothing to remember
            return Batch(records, offset)
        at = latest.bounded(f"soap-source {self.name}")
        return Batch(records, {"watermark": latest.value, "at": at})

    def changed(
        self, items: Iterable[Any], cycle: Cycle, field: str
    ) -> tuple[list[SourceRecord], Latest]:
        """The records of the items an earlier call did not send, and the latest watermark value
        with the items at exactly it (those sent before included, so ``at`` keeps them)."""
        records: list[SourceRecord] = []
        latest = Latest(cycle.watermark, cycle.at)
        first: Any = MISSING  # the first item's value, as zeep gives it
        for item in items:
            value = lookup(item, field)
            if value is MISSING or value is None:
                reason = f"the item has no value for the watermark field {field!r}"
                records.append(self.failed(item, self.position(item), reason))
                continue
            if cycle.watermark is not None:
                self.ensure_ordered(value, like(value, cycle.watermark))
            first = value if first is MISSING else first
            self.ensure_ordered(value, first)
            mark = plain(value)  # its JSON form: what the offset and positions hold
            if cycle.is_old(mark):
                continue
            position = self.position(item, value)
            identity = position["id"] if "id" in position else position["item"]
            latest.add(mark, identity)
            if not cycle.sent(mark, identity):
                records.append(self.record(item, position))
        return records, latest

    async def call(self, arguments: Mapping[str, Any]) -> Any:
        """The operation's response as plain dicts and lists; :class:`SoapFailed` without one."""
        name = self.config.operation
        if self.operation is None:
            raise SoapFailed("the source is not started")
        try:
            response = await self.operation(**arguments)
        except Fault as exc:
            code = f" ({exc.code})" if exc.code else ""
            raise SoapFailed(f"{name} answered a SOAP Fault{code}: {exc.message}") from exc
        except (ZeepError, httpx.HTTPError, TypeError, ValueError) as exc:
            # TypeError, ValueError: zeep refusing the arguments (unknown name, wrong type)
            raise SoapFailed(f"{name} failed: {reason(exc)}") from exc
        return serialize_object(response, dict)  # type: ignore[no-untyped-call]

    def items(self, response: Any) -> Sequence[Any]:
        path = self.config.records_path
        found = lookup(response, path)
        if found is MISSING:
            raise SoapFailed(f"the response has no {path!r} (records_path)")
        if found is None:  # an empty response, or an absent optional list
            return []
        return found if isinstance(found, list) else [found]  # one item may come unwrapped

    def ensure_ordered(self, value: Any, other: Any) -> None:
        """:class:`SoapFailed` unless watermark values ``value`` and ``other`` (as zeep gives
        them) are of kinds that order: an order guessed between, say, a time and a number could
        skip every item from then on."""
        try:
            sorted([comparable(value), comparable(other)])
        except TypeError as exc:
            field = self.config.watermark.field if self.config.watermark else ""
            raise SoapFailed(
                f"the watermark field {field!r} holds {value!r}, which cannot be compared with "
                f"{other!r}"
            ) from exc

    def position(self, item: Any, watermark: Any = None) -> Offset:
        position: Offset = {}
        if self.config.id_field is not None:
            ident = lookup(item, self.config.id_field)
            if ident is not MISSING and ident is not None:
                position["id"] = plain(ident)
        if watermark is not None:
            position["watermark"] = plain(watermark)
        if watermark is None or "id" not in position:
            position["item"] = digest(item)  # without an id, items at one watermark differ by it
        return position

    def record(self, item: Any, position: Offset) -> SourceRecord:
        key = self.key(item)
        mapping = self.config.mapping
        if not mapping:
            if not isinstance(item, Mapping):
                return self.failed(item, position, f"the item is not a record: {plain(item)!r}")
            return SourceRecord(position, plain(item), key)
        value: dict[str, Any] = {}
        missing: list[str] = []
        for path, field in mapping.items():
            found = lookup(item, path)
            if found is MISSING:
                missing.append(path)
            else:
                value[field] = plain(found)
        if missing:
            return self.failed(item, position, f"the item has no field(s) {missing}")
        return SourceRecord(position, value, key)

    def failed(self, item: Any, position: Offset, reason: str) -> SourceRecord:
        """A dead letter that carries the item as received, to look at and replay."""
        value = plain(item)
        return SourceRecord(
            position, value if isinstance(value, dict) else {"item": value}, self.key(item), reason
        )

    def key(self, item: Any) -> str | None:
        if self.config.key_field is None:
            return None
        found = lookup(item, self.config.key_field)
        return None if found is MISSING or found is None else str(plain(found))


def lookup(value: Any, path: str) -> Any:
    """What dotted ``path`` names in ``value`` (``""``: ``value``): a key of a dict, an index of a
    list; None under an absent element; :data:`MISSING` when ``path`` leads nowhere."""
    if not path:
        return value
    for part in path.split("."):
        if value is None:  # an absent element's children are absent too
            return None
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return MISSING
    return value


def plain(value: Any) -> Any:
    """A value zeep gives in the contract's JSON form (see the module's docstring)."""
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return plain_decimal(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def plain_decimal(value: Decimal) -> int | float | str:
    if not value.is_finite():
        return str(value)
    if value == value.to_integral_value():
        return int(value)
    number = float(value)
    return number if Decimal(repr(number)) == value else format(value, "f")


def like(value: Any, stored: Any) -> Any:
    """A watermark of the offset (JSON) back in the type of ``value``, to check they order."""
    try:
        if isinstance(stored, str):
            if isinstance(value, datetime):
                return datetime.fromisoformat(stored)
            if isinstance(value, date):
                return date.fromisoformat(stored)
            if isinstance(value, Decimal):
                return Decimal(stored)
        if isinstance(value, Decimal) and isinstance(stored, int | float):
            return Decimal(repr(stored))
    except ValueError as exc:
        raise SoapFailed(
            f"the stored watermark {stored!r} is not a {type(value).__name__}"
        ) from exc
    return stored


def comparable(value: Any) -> Any:
    """``value`` for ordering: a time without an offset is taken as UTC, so that a service that
    gives some with and some without does not stop the connector."""
    if isinstance(value, datetime) and value.utcoffset() is None:
        return value.replace(tzinfo=UTC)
    return value


def digest(item: Any) -> str:
    text = json.dumps(plain(item), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def reason(exc: Exception) -> str:
    """Why a request failed, for the connector's status."""
    if isinstance(exc, TransportError) and exc.status_code:
        body = exc.content.decode("utf-8", "replace")[:SHOWN] if exc.content else ""
        return f"the service answered HTTP {exc.status_code}" + (f": {body}" if body else "")
    if isinstance(exc, httpx.HTTPError):
        return f"{type(exc).__name__}: {exc}"
    return str(exc) or type(exc).__name__
