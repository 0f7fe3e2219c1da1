"""The one rule for a consumer's endpoint URL (push subscriptions, webhook sinks): https, except
to a loopback host, where a local receiver (a test, a sidecar) may use plain http."""

from __future__ import annotations

import ipaddress
from typing import Final
from urllib.parse import urlsplit

LOOPBACK_NAMES: Final = frozenset({"localhost"})


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_endpoint_url(url: str) -> str:
    """``url`` if it is an absolute https URL (or http to a loopback host); else ValueError."""
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in url):  # noqa: PLR2004 - C0, space, DEL
        raise ValueError("must not contain spaces or control characters")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("must be an absolute https:// URL")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValueError(
            "must be https: http is allowed only to a loopback host (localhost, 127.0.0.1, ::1)"
        )
    return url
