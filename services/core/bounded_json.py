"""JSON from clients, within limits every part of ndxp can handle: the one way request bodies and
schema texts are read.

Python's ``json`` fails on hostile input in ways that became 500s: ``ValueError`` for an integer
over 4,300 digits, ``RecursionError`` deep down; and what it lets through broke later code: a
value nested just below its limit overflows a recursive walk (a schema compiler, ``json.dumps``),
an integer over 64 bits overflows a database column or a Kafka field, ``NaN`` and lone surrogates
cannot be written back out. So JSON is read with these rules, each broken one a 400 that says
which:

- at most ``max_depth`` levels of arrays and objects (``NDXP_MAX_JSON_DEPTH``, default 128);
- every integer a signed 64-bit one, every number finite (no ``NaN``, no ``Infinity``);
- text is UTF-8 without lone surrogates.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, Final

from annotated_types import Interval

from services.core.errors import BadRequest

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
# The integer of a query or path parameter or a body field: what SQL's BIGINT and Kafka's int64
# fields hold, so a larger one is a 422 where it is read, not an overflow where it is used.
Int64 = Annotated[int, Interval(ge=INT64_MIN, le=INT64_MAX)]
# A dataset contract nests 3 to 4 levels per record within a record, so the default leaves room
# for ~30 of them; the cap keeps every recursive walk over a schema or a body (Python's limit is
# 1,000 frames, shared with the server's own) far from its end.
DEFAULT_MAX_DEPTH: Final = 128
MAX_DEPTH_CAP: Final = 256
_INT64_DIGITS: Final = len(str(INT64_MIN))


class InvalidJson(BadRequest):
    code = "invalid_json"
    title = "Malformed JSON"


class JsonTooDeep(InvalidJson):
    code = "json_too_deep"
    title = "JSON nested too deeply"


class JsonNumberOutOfRange(InvalidJson):
    code = "json_number_out_of_range"
    title = "JSON number out of range"


class _Refused(Exception):
    """A parse hook's refusal, turned into the right error (with ``what``) by :func:`loads`."""


def loads(
    data: bytes | bytearray | str, *, max_depth: int = DEFAULT_MAX_DEPTH, what: str = "the body"
) -> Any:
    """``data`` parsed; :class:`InvalidJson` (or a subclass) says what is wrong with it."""
    try:
        value = json.loads(data, parse_int=_int, parse_float=_float, parse_constant=_no_constant)
    except _Refused as exc:
        raise JsonNumberOutOfRange(f"{what} has {exc}") from None
    except RecursionError:
        raise _too_deep(what, max_depth) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidJson(f"{what} is not JSON: {exc}") from None
    check(value, max_depth=max_depth, what=what)
    return value


def check(value: Any, *, max_depth: int = DEFAULT_MAX_DEPTH, what: str = "the body") -> None:
    """Raise unless ``value`` keeps the rules above (what a parser let through: orjson's
    unsigned 64-bit integers, say); iterative, so any depth is safe to check."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if type(node) is dict:
            if depth > max_depth:
                raise _too_deep(what, max_depth)
            for key, child in node.items():
                _check_scalar(key, what)
                pending.append((child, depth + 1))
        elif type(node) is list:
            if depth > max_depth:
                raise _too_deep(what, max_depth)
            pending.extend((child, depth + 1) for child in node)
        else:
            _check_scalar(node, what)


def _check_scalar(value: Any, what: str) -> None:
    kind = type(value)
    if kind is int and not INT64_MIN <= value <= INT64_MAX:
        raise JsonNumberOutOfRange(f"{what} has {_range()}")
    if kind is float and not math.isfinite(value):
        raise JsonNumberOutOfRange(f"{what} has a number that is not finite")
    if kind is str and not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise InvalidJson(f"{what} has a string with a lone surrogate") from None


def _int(text: str) -> int:
    # the length first: int() of a long enough text is slow, and refused past 4,300 digits
    value = int(text) if len(text) <= _INT64_DIGITS else None
    if value is None or not INT64_MIN <= value <= INT64_MAX:
        raise _Refused(_range())
    return value


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"a number too large for a double: {text[:40]}")
    return value


def _no_constant(text: str) -> Any:
    raise _Refused(f"{text}, which JSON does not have")


def _range() -> str:
    return f"an integer outside the signed 64-bit range [{INT64_MIN}, {INT64_MAX}]"


def _too_deep(what: str, max_depth: int) -> JsonTooDeep:
    return JsonTooDeep(f"{what} nests arrays and objects deeper than {max_depth} levels, the limit")
