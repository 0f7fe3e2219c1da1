"""Contracts as code against a running registry: ``ndxp schemas check`` and ``ndxp schemas push``.

Speaks only the Confluent API, so it works against ndxp's registry or any compatible one. The
caller's credentials are given as to every command that calls a service
(:mod:`services.core.cli.credentials`); reads need any valid token, pushes ``registry:write``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from services.core.cli.credentials import Credentials
from services.core.cli.http import ServiceClient
from services.core.http.confluent_extras import EXTRAS_QUERY
from services.registry.contracts import Contract

MEDIA_TYPE = "application/vnd.schemaregistry.v1+json"


@dataclass(frozen=True)
class Outcome:
    """What happened to one contract: ``new``, ``unchanged``, ``compatible``, ``registered``,
    ``incompatible`` or ``error``, with the registry's words."""

    contract: Contract
    status: str
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.status in {"incompatible", "error"}


def _post(client: httpx.Client, url: str, contract: Contract, **params: str) -> httpx.Response:
    # ndxp's extras (a registration's version) when the registry is ndxp's; others ignore it.
    # Every query parameter goes in ``params``: httpx drops a query written in the URL then.
    return client.post(
        url,
        json={"schema": contract.text},
        headers={"Content-Type": MEDIA_TYPE},
        params={**EXTRAS_QUERY, **params},
    )


def _registered(client: httpx.Client, contract: Contract) -> httpx.Response:
    return _post(client, f"/subjects/{contract.subject}", contract)


def check(client: httpx.Client, contract: Contract) -> Outcome:
    """Is the file what is registered, or a change the subject's compatibility level allows?"""
    found = _registered(client, contract)
    if found.status_code == httpx.codes.OK:
        return Outcome(contract, "unchanged", f"version {found.json()['version']}")
    if found.json().get("error_code") == 40401:  # noqa: PLR2004 - subject not found
        return Outcome(contract, "new")
    answer = _post(
        client, f"/compatibility/subjects/{contract.subject}/versions", contract, verbose="true"
    )
    if answer.status_code != httpx.codes.OK:
        return Outcome(contract, "error", answer.text)
    body = answer.json()
    if body["is_compatible"]:
        return Outcome(contract, "compatible")
    return Outcome(contract, "incompatible", "; ".join(body.get("messages", [])))


def push(client: httpx.Client, contract: Contract) -> Outcome:
    """Register the contract unless the registry already has it."""
    found = _registered(client, contract)
    if found.status_code == httpx.codes.OK:
        return Outcome(contract, "unchanged", f"version {found.json()['version']}")
    answer = _post(client, f"/subjects/{contract.subject}/versions", contract)
    if answer.status_code == httpx.codes.OK:
        body = answer.json()
        return Outcome(contract, "registered", f"id {body['id']}, version {body.get('version')}")
    status = "incompatible" if answer.status_code == httpx.codes.CONFLICT else "error"
    return Outcome(contract, status, answer.json().get("message", answer.text))


def run(
    registry_url: str, contracts: Sequence[Contract], credentials: Credentials, *, write: bool
) -> list[Outcome]:
    with ServiceClient(registry_url, credentials) as client:
        return [push(client, c) if write else check(client, c) for c in contracts]
