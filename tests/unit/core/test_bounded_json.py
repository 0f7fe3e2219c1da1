"""The limits every JSON body and schema text is read within."""

from __future__ import annotations

from typing import Any

import pytest

from services.core.bounded_json import (
    INT64_MAX,
    INT64_MIN,
    InvalidJson,
    JsonNumberOutOfRange,
    JsonTooDeep,
    check,
    loads,
)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_within_the_limits_json_reads_as_python_does() -> None:
    text = f'{{"a": [1, -2.5, "é", null, true], "b": {{"c": {INT64_MAX}, "d": {INT64_MIN}}}}}'
    assert loads(text) == {"a": [1, -2.5, "é", None, True], "b": {"c": INT64_MAX, "d": INT64_MIN}}
    assert loads(nested(128)) is not None
    assert loads(b'{"x": 1}') == {"x": 1}


@pytest.mark.parametrize("depth", [129, 1_000, 10_000, 100_000])
def test_deeper_than_the_limit_is_refused_at_any_depth(depth: int) -> None:
    with pytest.raises(JsonTooDeep, match="deeper than 128 levels"):
        loads(nested(depth))
    with pytest.raises(JsonTooDeep):
        loads('{"a":' * depth + "1" + "}" * depth)


def test_the_depth_limit_is_a_parameter() -> None:
    assert loads(nested(8), max_depth=8) == [[[[[[[[]]]]]]]]
    with pytest.raises(JsonTooDeep, match="deeper than 8 levels"):
        loads(nested(9), max_depth=8)


@pytest.mark.parametrize(
    "number",
    [str(INT64_MAX + 1), str(INT64_MIN - 1), "9" * 20, "9" * 4_301, "-" + "9" * 100_000],
)
def test_integers_beyond_64_bits_are_refused_whatever_their_length(number: str) -> None:
    with pytest.raises(JsonNumberOutOfRange, match="signed 64-bit range"):
        loads(f'{{"n": [{number}]}}')


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"x": -Infinity}', "1e400", "[-1e999]"])
def test_numbers_that_are_not_finite_are_refused(text: str) -> None:
    with pytest.raises(JsonNumberOutOfRange):
        loads(text)


@pytest.mark.parametrize(
    "text", ['"\\ud800"', '{"\\udfff": 1}', b"\xff", "", "[1,", "{'a': 1}", "[1] x"]
)
def test_what_is_not_json_or_not_writable_text_is_refused(text: str | bytes) -> None:
    with pytest.raises(InvalidJson):
        loads(text)


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (2**64 - 1, JsonNumberOutOfRange),  # orjson reads unsigned 64-bit integers
        ({"k": [float("nan")]}, JsonNumberOutOfRange),
        ({"\ud800": 1}, InvalidJson),
    ],
)
def test_check_holds_parsed_values_to_the_same_rules(value: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        check(value)


def test_check_walks_without_recursion() -> None:
    value: Any = 1
    for _ in range(50_000):
        value = [value]
    with pytest.raises(JsonTooDeep):
        check(value)
    check(value, max_depth=50_000)
