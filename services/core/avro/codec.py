"""Validate and encode records against a dataset's contract; decode them back to JSON.

The one piece of code that does this: the gateway's publish path, every source connector and every
subscription channel use it. A :class:`Contract` is compiled once per schema id; then
:func:`validate`, :func:`encode`, :func:`encode_many`, :func:`decode` and :func:`to_json` are pure
functions of it (no I/O).

**The JSON conventions** (the public form of a record at the gateway, on every channel):

- A record is a JSON object. A field that is missing takes the schema's ``default``; a field with
  no default must be present (also when it may be ``null``: send ``null``). A field the schema does
  not have is an error: a typo is never silently dropped.
- ``null``, ``boolean``, ``string``: as in JSON. ``int``, ``long``: JSON integers in range (``5.0``
  is not an int). ``float``, ``double``: JSON numbers, finite (no NaN or Infinity).
- ``bytes`` and ``fixed``: base64 text (RFC 4648, standard alphabet, with padding); a ``fixed``
  must decode to exactly its size.
- ``enum``: the symbol, as a string. ``array``: a JSON array. ``map``: a JSON object.
- ``union``: the bare value; it goes to the first branch, in the schema's order, that accepts it.
  Avro's JSON encoding ``{"string": "x"}``, ``{"vn.gov.mps.Address": {...}}`` (the branch's type
  name; the full name of a named type) is accepted too, to choose a branch explicitly, except in a
  union that has a ``map`` branch, where every object is a map.
- ``date``: ``"YYYY-MM-DD"``, or days since 1970-01-01.
- ``time-millis``, ``time-micros``: ``"HH:MM:SS[.fff]"``, or milliseconds (microseconds) since
  midnight.
- ``timestamp-millis``, ``timestamp-micros``: ISO-8601 / RFC 3339 text with seconds and a UTC
  offset (``2025-03-14T09:30:15.123+07:00``, ``...Z``; without an offset it is an error: the
  instant would be a guess), or milliseconds (microseconds) since 1970-01-01T00:00:00Z.
- ``local-timestamp-millis``, ``local-timestamp-micros``: the same text without an offset, or a
  count since 1970-01-01T00:00:00 local time.
- ``decimal`` (on ``bytes`` or ``fixed``): a string ``"-123.45"`` (exponent allowed) or a JSON
  number, with at most ``scale`` digits after the point and ``precision - scale`` before it.
- ``uuid``: the canonical 8-4-4-4-12 hexadecimal text (stored in lower case).
- Digits finer than a type holds (a fourth fractional digit in a ``*-millis`` value, a third in a
  ``decimal(10,2)``) are an error, never rounded away. Years are 0001 to 9999.
- Connectors may pass Python values instead: ``date``, ``datetime`` (aware for ``timestamp-*``,
  naive for ``local-timestamp-*``), ``time``, ``Decimal``, ``UUID``, ``bytes``, tuples, Mappings.

:func:`to_json` writes every value in one canonical form of the above: dates ``"YYYY-MM-DD"``,
times ``"HH:MM:SS.fff"`` (``.ffffff`` for micros), timestamps in UTC as
``"YYYY-MM-DDTHH:MM:SS.fffZ"`` (``.ffffffZ``; local ones without ``Z``), decimals as strings with
exactly ``scale`` digits after the point, bytes as base64, unions bare, 32-bit floats as the
shortest decimal that reads back as the same float. A record in canonical form survives
JSON → :func:`encode` → :func:`decode` → :func:`to_json` unchanged.

**Errors** are :class:`FieldError` values: a JSON pointer (RFC 6901) into the record as sent
(``/new_address/ward_code``, ``/codes/3``; ``""`` for the record itself) and a reason for a person.
Every error of a record is reported, not only the first.

**Wire format**: Confluent's: magic byte 0, the schema id as 4 bytes big-endian, then the Avro
binary encoding of the record (fastavro's ``schemaless_writer``).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

import fastavro
from fastavro.read import SchemaResolutionError
from fastavro.schema import SchemaParseException, UnknownType

from services.core.avro.compiler import Compiler
from services.core.avro.nodes import FieldError, Node
from services.core.avro.values import Invalid
from services.core.errors import Unprocessable

__all__ = [
    "MAX_LISTED_ERRORS",
    "MAX_LISTED_RECORDS",
    "BatchInvalid",
    "Contract",
    "FieldError",
    "PayloadInvalid",
    "RecordInvalid",
    "compile_contract",
    "decode",
    "encode",
    "encode_many",
    "schema_id_of",
    "to_json",
    "validate",
]

MAGIC: Final = 0
HEADER_SIZE: Final = 5
MAX_LISTED_RECORDS: Final = 100  # bad records named in a BatchInvalid; the rest are counted
MAX_LISTED_ERRORS: Final = 100  # errors listed per record in an exception's body
_NO_NAMED: Mapping[str, Any] = MappingProxyType({})
# What fastavro raises on data it cannot write or read; a bug of ours or a bad payload, never a 500.
_FASTAVRO_ERRORS: Final = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    OverflowError,
    EOFError,
    SchemaResolutionError,
)


class RecordInvalid(Unprocessable):
    """A record does not match its contract; ``field_errors`` says everything that is wrong."""

    def __init__(self, field_errors: Sequence[FieldError]) -> None:
        first = field_errors[0] if field_errors else FieldError("", "invalid")
        more = f" (and {len(field_errors) - 1} more)" if len(field_errors) > 1 else ""
        super().__init__(
            f"the record does not match the contract: {first.path or '/'}: {first.reason}{more}",
            errors=_listed(field_errors),
        )
        self.field_errors = tuple(field_errors)


class BatchInvalid(Unprocessable):
    """Some records of a batch do not match the contract, so none of it may be written.

    ``errors`` lists ``{"index", "errors": [{"path", "reason"}]}`` for the first
    :data:`MAX_LISTED_RECORDS` bad records; ``invalid_count`` counts all of them.
    """

    def __init__(
        self, records: Sequence[tuple[int, Sequence[FieldError]]], invalid_count: int, total: int
    ) -> None:
        listed = "" if invalid_count <= len(records) else f"; the first {len(records)} are listed"
        super().__init__(
            f"{invalid_count} of {total} records do not match the contract{listed}",
            errors=[{"index": index, "errors": _listed(errors)} for index, errors in records],
        )
        self.records = tuple((index, tuple(errors)) for index, errors in records)
        self.invalid_count, self.total = invalid_count, total


class PayloadInvalid(Unprocessable):
    """Bytes that are not a record of the contract in Confluent's wire format."""

    code = "invalid_payload"
    title = "Invalid Avro payload"


def _listed(errors: Sequence[FieldError]) -> list[dict[str, Any]]:
    return [error.as_json() for error in errors[:MAX_LISTED_ERRORS]]


@dataclass(frozen=True, eq=False)
class Contract:
    """A schema compiled for validating, encoding and decoding; build with
    :func:`compile_contract`, once per schema id, and share it."""

    schema_id: int
    schema: Any
    parsed: Any  # fastavro's parsed form, named types included: what decode reads with
    header: bytes  # the 5-byte wire-format header
    root: Node
    # The same schema without logical types: converted values are already the underlying ints,
    # strings and bytes, so fastavro has nothing to prepare (the encoding is the same).
    write_schema: Any


def compile_contract(schema_id: int, schema: Any, named: Mapping[str, Any] = _NO_NAMED) -> Contract:
    """Compile ``schema`` (the JSON value of an Avro schema) registered under ``schema_id``.

    ``named`` holds, by full name, the definitions of types the schema takes from its references.
    Raises ``ValueError`` for a schema fastavro cannot parse.
    """
    if not 0 <= schema_id < 2**31:
        raise ValueError(f"schema id {schema_id} is out of range")
    table: dict[str, Any] = {}
    plain_table: dict[str, Any] = {}
    try:
        _parse_named(named, table)
        parsed = fastavro.parse_schema(schema, table)
        root = Compiler(table).node(parsed)
        _parse_named({k: _without_logical_types(d) for k, d in named.items()}, plain_table)
        write_schema = fastavro.parse_schema(_without_logical_types(schema), plain_table)
    except (SchemaParseException, UnknownType, TypeError, KeyError, ValueError) as exc:
        raise ValueError(f"invalid schema: {exc}") from exc
    header = bytes([MAGIC]) + schema_id.to_bytes(4, "big")
    return Contract(schema_id, schema, parsed, header, root, write_schema)


def _without_logical_types(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_without_logical_types(item) for item in schema]
    if isinstance(schema, dict):
        return {
            key: _without_logical_types(item)
            for key, item in schema.items()
            if not (key == "logicalType" and "type" in schema)
        }
    return schema


def _parse_named(named: Mapping[str, Any], table: dict[str, Any]) -> None:
    """Parse referenced definitions in any order: a definition may use one listed after it."""
    pending = [definition for full, definition in named.items() if full not in table]
    while pending:
        failed: list[Any] = []
        for definition in pending:
            try:
                fastavro.parse_schema(definition, table)
            except UnknownType:
                failed.append(definition)
        if len(failed) == len(pending):
            fastavro.parse_schema(failed[0], table)  # raises the UnknownType of the first
        pending = failed


def validate(contract: Contract, value: Any) -> list[FieldError]:
    """Every way ``value`` does not match the contract; empty when it does."""
    try:
        contract.root.convert(value)
    except Invalid as exc:
        return _field_errors(contract, value, exc)
    except RecursionError:
        return [FieldError("", "nested too deeply")]
    return []


def _field_errors(contract: Contract, value: Any, exc: Invalid) -> list[FieldError]:
    errors: list[FieldError] = []
    try:
        contract.root.collect(value, "", errors)
    except RecursionError:
        return [FieldError("", "nested too deeply")]
    return errors or [FieldError("", exc.reason)]  # the thorough walk must never find less


def _to_avro(contract: Contract, value: Any) -> Any:
    try:
        return contract.root.convert(value)
    except Invalid as exc:
        raise RecordInvalid(_field_errors(contract, value, exc)) from None
    except RecursionError:
        raise RecordInvalid([FieldError("", "nested too deeply")]) from None


def _write(contract: Contract, datum: Any) -> bytes:
    out = io.BytesIO()
    out.write(contract.header)
    try:
        fastavro.schemaless_writer(out, contract.write_schema, datum)
    except _FASTAVRO_ERRORS as exc:
        raise RecordInvalid([FieldError("", f"cannot be encoded: {exc}")]) from exc
    return out.getvalue()


def encode(contract: Contract, value: Any) -> bytes:
    """One record in the wire format; raises :class:`RecordInvalid` listing every error."""
    return _write(contract, _to_avro(contract, value))


def encode_many(contract: Contract, values: Iterable[Any]) -> list[bytes]:
    """All records in the wire format, or :class:`BatchInvalid` naming every bad one: all or
    nothing. Valid records are encoded only while no bad one has been seen."""
    encoded: list[bytes] = []
    bad: list[tuple[int, Sequence[FieldError]]] = []
    invalid = total = 0
    convert = contract.root.convert
    for index, value in enumerate(values):
        total += 1
        try:
            datum = convert(value)
            if not invalid:
                encoded.append(_write(contract, datum))
        except (Invalid, RecordInvalid, RecursionError) as exc:
            invalid += 1
            if len(bad) < MAX_LISTED_RECORDS:
                bad.append((index, _errors_of(contract, value, exc)))
    if invalid:
        raise BatchInvalid(bad, invalid, total)
    return encoded


def _errors_of(contract: Contract, value: Any, exc: Exception) -> list[FieldError]:
    if isinstance(exc, Invalid):
        return _field_errors(contract, value, exc)
    if isinstance(exc, RecordInvalid):
        return list(exc.field_errors)
    return [FieldError("", "nested too deeply")]


def schema_id_of(payload: bytes) -> int:
    """The schema id in a wire-format header; :class:`PayloadInvalid` if there is none."""
    if len(payload) < HEADER_SIZE:
        raise PayloadInvalid(f"the payload has {len(payload)} bytes, fewer than the 5-byte header")
    if payload[0] != MAGIC:
        raise PayloadInvalid(
            f"the payload starts with byte {payload[0]}, not the wire format's magic byte 0"
        )
    return int.from_bytes(payload[1:HEADER_SIZE], "big")


def decode(payload: bytes, writer: Contract, reader: Contract | None = None) -> Any:
    """The record in ``payload``, written with ``writer``'s schema, as fastavro reads it (dates as
    ``date``, timestamps as aware ``datetime``, decimals as ``Decimal`` ...); read with
    ``reader``'s schema when given (Avro schema resolution: fields the reader lacks are skipped).
    Raises :class:`PayloadInvalid` for a header of another schema id, bytes that are not such a
    record, or bytes left over after it."""
    schema_id = schema_id_of(payload)
    if schema_id != writer.schema_id:
        raise PayloadInvalid(
            f"the payload is written with schema id {schema_id}, not {writer.schema_id}"
        )
    stream = io.BytesIO(payload)
    stream.seek(HEADER_SIZE)
    reader_schema = None if reader is None or reader is writer else reader.parsed
    try:
        value = fastavro.schemaless_reader(stream, writer.parsed, reader_schema)
    except _FASTAVRO_ERRORS as exc:
        raise PayloadInvalid(
            f"the payload is not a record of schema id {schema_id}: {exc or type(exc).__name__}"
        ) from exc
    if (left := len(payload) - stream.tell()) > 0:
        raise PayloadInvalid(f"{left} bytes follow the record in the payload")
    return value


def to_json(contract: Contract, value: Any) -> Any:
    """A decoded value (what :func:`decode` returns for this contract) in canonical JSON form."""
    to_json_value = contract.root.json
    return value if to_json_value is None else to_json_value(value)
