"""Secrets in connector configs: kept out of the API's answers, and out of Kafka when referenced.

A connector reads an agency's systems with passwords and keys. Two rules:

- **References.** A value may name an environment variable of the workers, ``${env:NAME}``
  (Kafka Connect's ``EnvVarConfigProvider`` spelling), alone or inside a string
  (``postgresql://etl:${env:ETL_PW}@db/hr``). The configs topic then holds only the reference;
  each worker resolves it when it starts the connector (:func:`resolve`).
- **Masking.** What the REST API and the CLI show of a config has every secret replaced by
  ``**********`` (:func:`masked_config`): values of keys that name a secret (password, secret,
  token, key, credentials...), at any depth, and the password of any URL. References are shown as
  they are: they are not secrets.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

MASK: Final = "**********"
REFERENCE = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
_SECRET_KEY = re.compile(
    r"(^|[._-])(password|passwd|pwd|secret|token|credentials?|api[._-]?key|private[._-]?key|key)$",
    re.IGNORECASE,
)


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


def _url_masked(text: str) -> str:
    if "://" not in text or "@" not in text:
        return text
    try:
        parts = urlsplit(text)
        password = parts.password
    except ValueError:
        return text
    if not password or REFERENCE.fullmatch(password):
        return text
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{host}"))
