"""The thin adapter between FastAPI and authlib's synchronous authorization server.

For each request: read the form asynchronously; load from the database everything authlib will
ask for (the clients the request names, the signing key, the presented token's verification);
run authlib in a worker thread when it has a secret to check (tens of milliseconds of scrypt
must not block the event loop), or on the loop when every secret presented was checked recently
(the verified-secrets cache: what is left is a quarter of a millisecond of RSA signing, cheaper
than the hop to a thread); then persist what it decided (revocations) and record what it did
(tokens issued and revoked).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from datetime import UTC, datetime
from typing import Final, Literal
from urllib.parse import parse_qsl

from authlib.oauth2.rfc6749 import (  # type: ignore[import-untyped]
    InsecureTransportError,
    InvalidRequestError,
    OAuth2Request,
)
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload  # type: ignore[import-untyped]
from authlib.oauth2.rfc6749.util import (  # type: ignore[import-untyped]
    extract_basic_authorization,
)
from fastapi import Request, Response
from starlette.datastructures import Headers

from services.core.audit import AuditLog
from services.core.auth.authenticator import Authenticator
from services.core.auth.secrets import verified_secrets
from services.core.auth.verify import VerifiedToken
from services.core.config import AuthSettings
from services.core.errors import NdxpError
from services.gateway.oauth.audit import record_token_issued, record_token_revoked
from services.gateway.oauth.keys import KeyStore
from services.gateway.oauth.metrics import count_token_answer
from services.gateway.oauth.server import AuthorizationServer, Exchange, Reply

log = logging.getLogger(__name__)

Endpoint = Literal["token", "introspection", "revocation"]
MAX_FORM_BYTES: Final = 16 * 1024
_MAX_FIELDS: Final = 20
_FORM_TYPE: Final = "application/x-www-form-urlencoded"


class FormError(ValueError):
    """The body is not a form an OAuth2 endpoint accepts."""


class FormRequest(OAuth2Request):  # type: ignore[misc]
    """An authlib request over an already-read form body."""

    def __init__(self, method: str, uri: str, headers: Headers, form: dict[str, str]) -> None:
        super().__init__(method, uri, headers=headers)
        self._form = form
        self.payload = BasicOAuth2Payload(form)

    @property
    def form(self) -> dict[str, str]:
        return self._form

    @property
    def args(self) -> dict[str, str]:
        return {}


async def read_form(request: Request) -> dict[str, str]:
    """The ``application/x-www-form-urlencoded`` body; a repeated parameter is an error and an
    empty one is treated as absent (RFC 6749 §3.1)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != _FORM_TYPE:
        raise FormError(f"the body must be {_FORM_TYPE}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormError(f"the body is larger than {MAX_FORM_BYTES} bytes")
    try:
        pairs = parse_qsl(body.decode(), max_num_fields=_MAX_FIELDS)
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormError("the body is not a valid form") from exc
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise FormError(f"parameter {name} is repeated")
        form[name] = value
    return form


def _respond(reply: Reply) -> Response:
    status, body, headers = reply
    merged = {name: value for name, value in headers if name.lower() != "content-type"}
    return Response(json.dumps(body), status, merged, media_type="application/json")


def _checked(request: FormRequest, form: dict[str, str], exchange: Exchange) -> bool:
    """Whether each client secret the request presents (HTTP Basic, form) is one of a known
    client that the verified-secrets cache has seen succeed: checking them costs no scrypt."""
    presented = (
        extract_basic_authorization(request.headers),
        (form.get("client_id"), form.get("client_secret")),
    )
    for client_id, secret in presented:
        if not (client_id and secret):
            continue  # nothing to check this way: authlib refuses or looks at the other
        record = exchange.clients.get(client_id)
        if record is None or not exchange.secrets.hit(client_id, secret, record.secret_hash):
            return False
    return True


class OAuthEndpoints:
    """``/oauth2/token``, ``/oauth2/introspect`` and ``/oauth2/revoke`` over authlib."""

    def __init__(
        self, auth: AuthSettings, keys: KeyStore, authenticator: Authenticator, audit: AuditLog
    ) -> None:
        self.auth = auth
        self.audit = audit
        self.keys = keys
        self.authenticator = authenticator
        self.store = authenticator.store

    async def handle(self, request: Request, endpoint: Endpoint) -> Response:
        reply, exchange = await self._answer(request, endpoint)
        if endpoint == "token":
            status, body, _ = reply
            count_token_answer(status, body, [] if exchange is None else exchange.issued)
        return _respond(reply)

    async def _answer(self, request: Request, endpoint: Endpoint) -> tuple[Reply, Exchange | None]:
        try:
            form = await read_form(request)
            oauth_request = FormRequest(
                request.method, self._public_url(request), request.headers, form
            )
        except FormError as exc:
            return InvalidRequestError(str(exc))(), None
        except InsecureTransportError as exc:
            return exc(), None
        exchange = await self._prepare(oauth_request, form, endpoint)
        server = AuthorizationServer(self.auth, exchange)
        if endpoint == "token":
            call = functools.partial(server.create_token_response, oauth_request)
        else:
            call = functools.partial(server.create_endpoint_response, endpoint, oauth_request)
        # A secret checked recently costs no scrypt: what is left (a signature, a fraction of a
        # millisecond) is cheaper on the event loop than a hop to a worker thread and back.
        reply = call() if _checked(oauth_request, form, exchange) else await asyncio.to_thread(call)
        await self._apply(exchange)
        return reply, exchange

    def _public_url(self, request: Request) -> str:
        """The URL the client called, as published: the issuer's. authlib refuses plain HTTP
        except on loopback (its transport check); judging the configured public URL rather than
        the one uvicorn saw keeps that check right behind a TLS-terminating proxy. A plain-HTTP
        deployment off loopback (a compose network) has to say so: AUTHLIB_INSECURE_TRANSPORT=1."""
        return self.auth.issuer.rstrip("/") + request.url.path

    async def _prepare(
        self, request: FormRequest, form: dict[str, str], endpoint: Endpoint
    ) -> Exchange:
        basic_id, _ = extract_basic_authorization(request.headers)
        names = {name for name in (basic_id, form.get("client_id")) if name}
        # one name nearly always (two only when Basic and the form disagree): no tasks to gather
        records = {name: await self.store.client(name) for name in names}
        exchange = Exchange(records, verified_secrets)
        if endpoint == "token":
            exchange.signing_key = await self.keys.signing_key()
        else:
            exchange.token_string = form.get("token")
            exchange.token = await self._verified(exchange.token_string)
        return exchange

    async def _verified(self, token: str | None) -> VerifiedToken | None:
        """The token if it is one of ours and active now; None for anything else."""
        if not token:
            return None
        try:
            verified = await self.authenticator.verifier.verify(token)
        except NdxpError:  # invalid, expired, revoked, foreign, or its issuer's keys unreachable
            return None
        return verified if verified.principal.issuer == self.auth.issuer else None

    async def _apply(self, exchange: Exchange) -> None:
        for claims in exchange.issued:
            await record_token_issued(
                self.audit,
                client_id=claims["client_id"],
                agency=claims["agency"],
                scope=claims["scope"],
                jti=claims["jti"],
                expires_at=claims["exp"],
            )
        for verified in exchange.revoked:
            principal = verified.principal
            assert principal.token_id is not None and principal.expires_at is not None  # noqa: S101
            expires = datetime.fromtimestamp(principal.expires_at, UTC)
            await self.store.revoke(principal.token_id, principal.client_id, expires)
            await record_token_revoked(
                self.audit,
                agency=principal.agency,
                client_id=principal.client_id,
                jti=principal.token_id,
            )
