"""The one rule for a consumer's endpoint URL (push subscriptions, webhook sinks): https, except
to a loopback host, where a local receiver (a test, a sidecar) may use plain http."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from services.core.http.destinations import is_loopback_host as is_loopback


def check_endpoint_url(url: str) -> str:
    """``url`` if it is an absolute https URL (or http to a loopback host); else ValueError."""
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in url):  # noqa: PLR2004 - C0, space, DEL
        raise ValueError("must not contain spaces or control characters")
    try:  # what the sink's HTTP client will parse (it refuses 0177.0.0.1 and other oddities)
        httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ValueError(f"is not a valid URL: {exc}") from None
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("must be an absolute https:// URL")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValueError(
            "must be https: http is allowed only to a loopback host (localhost, 127.0.0.1, ::1)"
        )
    return url


__all__ = ["check_endpoint_url", "is_loopback"]
