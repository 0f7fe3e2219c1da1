"""Secrets in connector configs: kept out of the API's answers, and out of Kafka when referenced.

A connector reads an agency's systems with passwords and keys. Two rules:

- **References.** A value may name an environment variable of the workers, ``${env:NAME}``
  (Kafka Connect's ``EnvVarConfigProvider`` spelling), alone or inside a string
  (``postgresql://etl:${env:ETL_PW}@db/hr``). The configs topic then holds only the reference;
  each worker resolves it when it starts the connector (:func:`resolve`).
- **Masking.** What the REST API and the CLI show of a config has every secret replaced by
  ``**********`` (:func:`masked_config`): values of keys that name a secret (password, secret,
  token, key, credentials...) or a credential-bearing header (``Authorization``,
  ``Proxy-Authorization``, ``X-Api-Key``, ``Cookie``), at any depth; in any URL, the password (or a
  bare user name of an http(s) URL: a token in disguise) and the query parameters named like a
  secret (``client_secret``, ``access_token``, ``sig``...). A failed connector's trace is shown
  with its URLs masked the same way (:func:`masked_text`). References are shown as they are:
  they are not secrets.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import unquote, urlsplit, urlunsplit

MASK: Final = "**********"
REFERENCE = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
_SECRET_KEY = re.compile(
    r"(^|[._-])(password|passwd|pwd|passphrase|secret|token|credentials?|api[._-]?key"
    r"|private[._-]?key|key|authorization|cookie|signature|sig)$",
    re.IGNORECASE,
)
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
_TOKEN_USER_SCHEMES: Final = frozenset({"http", "https"})


class UnresolvedReference(ValueError):
    """A ``${env:NAME}`` whose variable this worker does not have."""


def resolve(value: Any) -> Any:
    """``value`` with every ``${env:NAME}`` replaced by the variable's value, at any depth."""
    if isinstance(value, str):
        return REFERENCE.sub(_lookup, value)
    if isinstance(value, Mapping):
        return {key: resolve(item) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item) for item in value]
    return value


def _lookup(match: re.Match[str]) -> str:
    name = match.group(1)
    found = os.environ.get(name)
    if found is None:
        raise UnresolvedReference(f"environment variable {name} is not set on this worker")
    return found


def is_secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(key))


def masked_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``config`` fit to show: secret values and URL passwords masked."""
    return {key: _masked(key, value) for key, value in config.items()}


def _masked(key: str, value: Any) -> Any:
    if isinstance(value, Mapping):
        return masked_config(value)
    if isinstance(value, list):
        return [_masked(key, item) for item in value]
    if isinstance(value, str):
        if REFERENCE.fullmatch(value):
            return value
        if is_secret_key(key) and value:
            return MASK
        return _url_masked(value)
    return value


def masked_text(text: str) -> str:
    """``text`` (a trace, a message) with every URL in it masked as a config's would be."""
    return _URL_IN_TEXT.sub(lambda match: _url_masked(match.group(0)), text)


def _url_masked(text: str) -> str:
    if "://" not in text:
        return text
    try:
        parts = urlsplit(text)
    except ValueError:
        return text
    netloc = parts.netloc
    userinfo, at, host = netloc.rpartition("@")
    if at and userinfo and not REFERENCE.fullmatch(userinfo):
        name, colon, password = userinfo.partition(":")
        if password and not REFERENCE.fullmatch(password):
            netloc = f"{name}:{MASK}@{host}"
        elif not colon and parts.scheme.lower() in _TOKEN_USER_SCHEMES:
            netloc = f"{MASK}@{host}"
    query = _query_masked(parts.query)
    if (netloc, query) == (parts.netloc, parts.query):
        return text  # as written: urlunsplit would drop the empty host of sqlite:///file.db
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _query_masked(query: str) -> str:
    """``query`` with the value of every parameter named like a secret masked, the rest as is."""
    if not query:
        return query
    pairs = []
    for pair in query.split("&"):
        name, equals, value = pair.partition("=")
        if equals and value and not REFERENCE.fullmatch(value) and is_secret_key(unquote(name)):
            value = MASK
        pairs.append(f"{name}{equals}{value}")
    return "&".join(pairs)
