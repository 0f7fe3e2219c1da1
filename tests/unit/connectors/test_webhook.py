"""webhook-sink's signatures, request bodies and settings, without a network."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid

import pytest
from pydantic import ValidationError

from services.connectors.plugin import SinkRecord
from services.connectors.plugins.webhook import (
    WebhookSinkConfig,
    delivery_id,
    encode_body,
    sign,
    verify_signature,
)

SECRET = "whsec-test"
BODY = '{"records":[{"value":{"name":"Người"}}]}'.encode()
NOW = 1_741_944_615


def test_a_signature_is_hmac_sha256_of_time_dot_body() -> None:
    header = sign(SECRET, BODY, timestamp=NOW)
    mac = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={NOW},v1={mac}"
    assert verify_signature(SECRET, header, BODY, now=NOW)
    assert verify_signature(SECRET.encode(), header, BODY, now=NOW)


@pytest.mark.parametrize(
    ("now", "valid"),
    [(NOW + 300, True), (NOW - 300, True), (NOW + 301, False), (NOW - 301, False)],
)
def test_a_signature_is_valid_within_the_tolerance(now: int, valid: bool) -> None:
    header = sign(SECRET, BODY, timestamp=NOW)
    assert verify_signature(SECRET, header, BODY, now=now) is valid


def test_the_tolerance_is_the_receivers_choice() -> None:
    header = sign(SECRET, BODY, timestamp=NOW)
    assert not verify_signature(SECRET, header, BODY, tolerance_seconds=10, now=NOW + 11)
    assert verify_signature(SECRET, header, BODY, tolerance_seconds=3600, now=NOW + 3000)


def test_a_signature_made_just_now_is_valid_with_the_clock() -> None:
    assert verify_signature(SECRET, sign(SECRET, BODY), BODY)


def test_tampering_fails_verification() -> None:
    header = sign(SECRET, BODY, timestamp=NOW)
    mac = header.split("v1=")[1]
    assert not verify_signature(SECRET, header, BODY.replace(b"Ng", b"ng"), now=NOW)
    assert not verify_signature("another-secret", header, BODY, now=NOW)
    # the same MAC under a newer time: a replay made to look fresh
    assert not verify_signature(SECRET, f"t={NOW + 600},v1={mac}", BODY, now=NOW + 600)
    flipped = mac[:-1] + ("0" if mac[-1] != "0" else "1")
    assert not verify_signature(SECRET, f"t={NOW},v1={flipped}", BODY, now=NOW)


def test_any_of_several_signatures_may_match() -> None:
    """While a secret is rotated, a sender may sign with both: one match is enough."""
    good = sign(SECRET, BODY, timestamp=NOW).split(",")[1]
    other = sign("old-secret", BODY, timestamp=NOW).split(",")[1]
    assert verify_signature(SECRET, f"t={NOW},{other},{good}", BODY, now=NOW)
    assert verify_signature(SECRET, f"t={NOW}, {good}, v0=ignored", BODY, now=NOW)
    assert not verify_signature(SECRET, f"t={NOW},{other}", BODY, now=NOW)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        "v1=abc",
        f"t={NOW}",
        f"t=,v1={'0' * 64}",
        f"t=-{NOW},v1={'0' * 64}",
        f"t={NOW}.5,v1={'0' * 64}",
        f"t=\uff11\uff12\uff13,v1={'0' * 64}",  # full-width digits: digits to str.isdigit
        f"t={NOW},t={NOW},v1={'0' * 64}",
        f"t={NOW},v1=Người",
        f"t={NOW},v1",
        f"t={NOW},,v1={'0' * 64}",
        f"t={'9' * 400},v1={'0' * 64}",  # float maths on it would overflow
        f"t={'9' * 5000},v1={'0' * 64}",  # int() refuses so many digits
    ],
)
def test_a_malformed_header_is_invalid_without_an_error(header: str) -> None:
    assert verify_signature(SECRET, header, BODY, now=NOW) is False


def test_the_body_holds_the_records_in_order_as_utf8_json() -> None:
    records = [
        SinkRecord(
            topic="moh.people.v1",
            partition=2,
            offset=40 + i,
            timestamp=1_741_944_615_123 + i * 1000,
            key=f"k{i}",
            event_id=f"e{i}",
            headers={"ndxp-event-id": f"e{i}"},
            value={"name": "Người"},
            json={"name": "Người", "born": "1990-05-17"},
        )
        for i in range(2)
    ]
    body = encode_body(records)
    assert "Người".encode() in body
    assert json.loads(body) == {
        "records": [
            {
                "event_id": f"e{i}",
                "key": f"k{i}",
                "partition": 2,
                "offset": 40 + i,
                "timestamp": f"2025-03-14T09:30:1{5 + i}.123Z",
                "value": {"name": "Người", "born": "1990-05-17"},
            }
            for i in range(2)
        ]
    }


def _record(event: str | None, offset: int = 0) -> SinkRecord:
    return SinkRecord("moh.people.v1", 0, offset, 0, None, event, {}, {}, {})


def test_the_delivery_id_names_every_record_of_the_request() -> None:
    a, b, c = (str(uuid.uuid4()) for _ in range(3))
    first = delivery_id([_record(a), _record(b), _record(c)])
    assert first != delivery_id([_record(a), _record(c)])  # same ends, another delivery
    assert first == delivery_id([_record(a), _record(b), _record(c)])
    assert first != delivery_id([_record(a), _record(b)])
    assert uuid.UUID(first).version == 5
    # without event ids the records' positions name them
    assert delivery_id([_record(None, 1)]) != delivery_id([_record(None, 2)])


def _config(**settings: object) -> WebhookSinkConfig:
    return WebhookSinkConfig.model_validate({"url": "https://hook.example.vn/x", **settings})


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"secret": ""}, "must not be empty"),
        ({"secret": "${env:}"}, "a reference must read ${env:NAME}"),
        ({"secret": "${ENV_NAME}"}, "a reference must read ${env:NAME}"),
        ({"secret": "s", "headers": {"NDXP-Signature": "x"}}, "sets NDXP-Signature itself"),
        ({"secret": "s", "headers": {"Content-Type": "text/plain"}}, "sets Content-Type itself"),
        ({"secret": "s", "backoff_seconds": 10, "max_backoff_seconds": 5}, "at least"),
        ({"secret": "s", "batch_size": 0}, "greater than or equal to 1"),
        ({"secret": "s", "url": "https:///no-host"}, "absolute https:// URL"),
        ({"secret": "s", "url": "http://192.168.1.10/x"}, "must be https"),
        ({"secret": "s", "typo": 1}, "Extra inputs are not permitted"),
    ],
)
def test_bad_settings_are_refused(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("$", r"\$").replace("{", r"\{")):
        _config(**settings)


def test_the_secret_is_masked_when_the_settings_are_shown() -> None:
    config = _config(secret="very-secret", headers={"x-team": "moh"})
    assert "very-secret" not in repr(config)
    assert "very-secret" not in config.model_dump_json()
    assert config.batch_size == 100
    assert config.max_attempts == 8
