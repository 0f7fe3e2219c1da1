"""The endpoint-URL rule shared by push subscriptions and webhook sinks."""

from __future__ import annotations

import pytest

from services.core.http.endpoints import check_endpoint_url, is_loopback


@pytest.mark.parametrize(
    "url",
    [
        "https://consumer.example.vn/hook",
        "http://127.0.0.1:9000/x",
        "http://[::1]/x",
        "http://localhost/x",
    ],
)
def test_https_or_loopback_is_accepted(url: str) -> None:
    assert check_endpoint_url(url) == url


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://consumer.example.vn/hook", "must be https"),
        ("ftp://127.0.0.1/x", "absolute https://"),
        ("/hook", "absolute https://"),
        ("https://a.example/\x7f", "control characters"),
        ("https://a.example/\x00", "control characters"),
        ("https://a.example/a b", "spaces"),
        ("https://0177.0.0.1/x", "not a valid URL: Invalid IPv4 address"),
    ],
)
def test_other_urls_are_refused(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        check_endpoint_url(url)


def test_loopback_names_and_addresses() -> None:
    assert is_loopback("LOCALHOST")
    assert is_loopback("127.0.0.2")
    assert not is_loopback("10.0.0.1")
    assert not is_loopback("consumer.example.vn")
