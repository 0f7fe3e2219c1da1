"""A client of the schema registry: the Confluent API over HTTP, errors as ndxp's.

The gateway and connect never import the registry service; they speak to it like any Confluent
client would. The caller's ``Authorization`` header is passed through, so a registry that requires
tokens sees the same principal the gateway did (connect passes its own credentials), and the
request id is passed on for the logs.
"""

from __future__ import annotations

import json
from typing import Any, Final

import httpx

from services.core.errors import (
    Conflict,
    Forbidden,
    NdxpError,
    NotFound,
    Unavailable,
    Unprocessable,
)
from services.core.http.confluent_extras import EXTRAS_QUERY
from services.core.logging import request_id
from services.core.tracing import propagated

MEDIA_TYPE: Final = "application/vnd.schemaregistry.v1+json"
TIMEOUT: Final = httpx.Timeout(10.0, connect=3.0)
SUBJECT_NOT_FOUND: Final = 40401
SUBJECT_CONFIG_NOT_FOUND: Final = 40408


class InvalidContract(Unprocessable):
    """The registry refused the contract: not Avro, or lint findings under ``enforce``."""

    code = "invalid_contract"
    title = "Invalid contract"


class IncompatibleContract(Conflict):
    """The contract breaks the subject's compatibility level."""

    code = "incompatible_contract"
    title = "Incompatible contract"


class RegistryNotFound(NotFound):
    """The registry has no such subject, version or config (its ``error_code`` says which)."""

    def __init__(self, message: str, registry_code: int | None) -> None:
        super().__init__(message)
        self.registry_code = registry_code


class RegistryUnauthorized(Unavailable):
    """The registry did not accept the credentials passed on (a revoked or expired token)."""


class RegistryError(NdxpError):
    """Any other refusal: a request the gateway should not have sent, so a logged 500."""


class RegistryClient:
    """Thin async wrapper over the Confluent endpoints the catalogue needs."""

    def __init__(self, base_url: str, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=TIMEOUT, transport=transport)

    async def close(self) -> None:
        await self._http.aclose()

    # --- subjects and versions ------------------------------------------------------------

    async def versions(self, subject: str, auth: str | None) -> list[int] | None:
        """The subject's live versions, or None when it has none."""
        try:
            found: list[int] = await self._call("GET", f"/subjects/{subject}/versions", auth)
        except RegistryNotFound as exc:
            if exc.registry_code == SUBJECT_NOT_FOUND:
                return None
            raise
        return found

    async def version(self, subject: str, version: int | str, auth: str | None) -> dict[str, Any]:
        """``{subject, version, id, schema, references?}`` of one version (or ``"latest"``)."""
        found: dict[str, Any] = await self._call(
            "GET", f"/subjects/{subject}/versions/{version}", auth
        )
        return found

    async def test(self, subject: str, schema: str, auth: str | None) -> list[str]:
        """Parse ``schema`` and check it against the subject; the reasons it may not follow."""
        body = await self._call(
            "POST",
            f"/compatibility/subjects/{subject}/versions",
            auth,
            body={"schema": schema},
            params={"verbose": "true"},
        )
        return [] if body.get("is_compatible") else list(body.get("messages") or ["incompatible"])

    async def register(self, subject: str, schema: str, auth: str | None) -> dict[str, Any]:
        """``{id, version, warnings?}``; an existing identical schema returns its version."""
        found: dict[str, Any] = await self._call(
            "POST", f"/subjects/{subject}/versions", auth, body={"schema": schema}
        )
        return found

    async def delete_subject(self, subject: str, auth: str | None) -> None:
        """Soft, then permanent deletion: the subject is gone as if never registered."""
        await self._call("DELETE", f"/subjects/{subject}", auth)
        await self._call("DELETE", f"/subjects/{subject}", auth, params={"permanent": "true"})

    async def delete_version(self, subject: str, version: int, auth: str | None) -> None:
        path = f"/subjects/{subject}/versions/{version}"
        await self._call("DELETE", path, auth)
        await self._call("DELETE", path, auth, params={"permanent": "true"})

    async def schema_by_id(self, schema_id: int, auth: str | None) -> Any:
        """``{schema, references?}`` registered under ``schema_id``."""
        return await self._call("GET", f"/schemas/ids/{schema_id}", auth)

    async def subject_versions_of(self, schema_id: int, auth: str | None) -> Any:
        """``[{subject, version}]``: where ``schema_id`` is registered."""
        return await self._call("GET", f"/schemas/ids/{schema_id}/versions", auth)

    # --- configuration ----------------------------------------------------------------------

    async def subject_config(self, subject: str, auth: str | None) -> dict[str, Any] | None:
        """The subject's own settings, or None when it has none."""
        try:
            found: dict[str, Any] = await self._call("GET", f"/config/{subject}", auth)
        except RegistryNotFound as exc:
            if exc.registry_code == SUBJECT_CONFIG_NOT_FOUND:
                return None
            raise
        return found

    async def set_compatibility(self, subject: str, level: str, auth: str | None) -> None:
        await self._call("PUT", f"/config/{subject}", auth, body={"compatibility": level})

    async def delete_config(self, subject: str, auth: str | None) -> None:
        await self._call("DELETE", f"/config/{subject}", auth)

    # --- ndxp extension -------------------------------------------------------------------

    async def contract(self, subject: str, auth: str | None) -> dict[str, Any]:
        """The latest contract: fields with docs and PII classes, compatibility, lint."""
        found: dict[str, Any] = await self._call("GET", f"/ndxp/contracts/{subject}", auth)
        return found

    # --- plumbing ---------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        auth: str | None,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        headers = {"Accept": MEDIA_TYPE, "Content-Type": MEDIA_TYPE, **propagated()}
        if auth:
            headers["Authorization"] = auth
        if rid := request_id.get():
            headers["X-Request-ID"] = rid
        content = json.dumps(body) if body is not None else None
        # ndxp's extras: a registration's version and lint warnings, the errors of a refusal
        query = {**EXTRAS_QUERY, **(params or {})}
        try:
            response = await self._http.request(
                method, path, headers=headers, content=content, params=query
            )
        except httpx.HTTPError as exc:
            raise Unavailable(
                f"the schema registry at {self.base_url} did not answer: {exc!r}"
            ) from exc
        if response.is_success:
            return response.json()
        raise _error(response)


def _error(response: httpx.Response) -> NdxpError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    message = str(body.get("message") or response.text or response.reason_phrase)
    error_code = body.get("error_code")
    status = response.status_code
    if status >= 500 or status == 401:  # noqa: PLR2004 - 401: the caller's token was not trusted
        away = RegistryUnauthorized if status == 401 else Unavailable  # noqa: PLR2004
        return away(f"the schema registry answered {status}: {message}")
    if status == 403:  # noqa: PLR2004
        return Forbidden(f"the schema registry refused: {message}")
    if status == 409:  # noqa: PLR2004
        return IncompatibleContract(message)
    if status == 422:  # noqa: PLR2004
        errors = body.get("errors") if isinstance(body.get("errors"), list) else None
        return InvalidContract(message, errors=errors)
    if status == 404:  # noqa: PLR2004
        return RegistryNotFound(message, error_code if isinstance(error_code, int) else None)
    return RegistryError(f"the schema registry answered {status}: {message}")
