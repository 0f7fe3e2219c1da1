"""The OAuth2 authorization server, built from authlib's parts.

authlib provides the protocol: the client credentials grant (RFC 6749 §4.4) with client
authentication by ``client_secret_basic`` and ``client_secret_post``, scope checks and error
responses; RFC 9068 JWT access tokens (``JWTBearerTokenGenerator``, signing through joserfc);
introspection (RFC 7662) and revocation (RFC 7009). Its server is synchronous and reaches storage
through callbacks, while ndxp's database is async: so one :class:`AuthorizationServer` is built
per request around an :class:`Exchange` the adapter filled beforehand (the clients named by the
request, the signing key, the presented token already verified) and that collects what authlib
decided (tokens issued, tokens revoked) for the adapter to persist afterwards. authlib itself
never does I/O.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from authlib.oauth2.rfc6749 import (  # type: ignore[import-untyped]
    AuthorizationServer as _AuthlibServer,
)
from authlib.oauth2.rfc6749 import InvalidClientError, OAuth2Request
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant  # type: ignore[import-untyped]
from authlib.oauth2.rfc7009 import RevocationEndpoint  # type: ignore[import-untyped]
from authlib.oauth2.rfc7662 import IntrospectionEndpoint  # type: ignore[import-untyped]
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator  # type: ignore[import-untyped]
from joserfc.jwk import KeySet, RSAKey

from services.core.auth.errors import REALM
from services.core.auth.principal import SCOPES
from services.core.auth.secrets import VerifiedSecrets
from services.core.auth.store import ClientRecord
from services.core.auth.verify import VerifiedToken, decode_segment
from services.core.config import AuthSettings
from services.gateway.oauth.models import AUTH_METHODS, GRANT_TYPE, IssuedToken, OAuthClient

Reply = tuple[int, dict[str, Any], list[tuple[str, str]]]


@dataclass
class Exchange:
    """One request's inputs, loaded before authlib runs, and its effects, applied after."""

    clients: dict[str, ClientRecord | None]
    secrets: VerifiedSecrets
    signing_key: RSAKey | None = None
    token_string: str | None = None
    token: VerifiedToken | None = None  # the presented token, if it is one of ours and active
    issued: list[dict[str, Any]] = field(default_factory=list)
    revoked: list[VerifiedToken] = field(default_factory=list)


class ClientCredentials(ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = list(AUTH_METHODS)


class AccessTokens(JWTBearerTokenGenerator):  # type: ignore[misc]
    """RFC 9068 access tokens: ``typ: at+jwt``, ``kid`` of the current signing key, and the
    claims ``iss sub aud exp iat nbf jti client_id scope agency``."""

    def __init__(self, auth: AuthSettings, exchange: Exchange) -> None:
        super().__init__(issuer=auth.issuer, alg="RS256", expires_generator=auth.token_lifetime)
        self.audience = auth.audience
        self.lifetime = auth.token_lifetime
        self.exchange = exchange

    def get_jwks(self) -> KeySet:
        # A one-key set: joserfc then writes the key's kid into the header.
        assert self.exchange.signing_key is not None  # noqa: S101 - loaded by the adapter
        return KeySet([self.exchange.signing_key])

    def get_audiences(self, client: OAuthClient, user: object, scope: str) -> str:
        return self.audience

    def get_jti(self, client: OAuthClient, grant_type: str, user: object, scope: str) -> str:
        return secrets.token_urlsafe(24)

    def get_extra_claims(
        self, client: OAuthClient, grant_type: str, user: object, scope: str
    ) -> dict[str, Any]:
        # authlib sets iat and exp but not nbf; the three are set here from one clock reading so
        # that they agree exactly (exp - iat is the configured lifetime, nbf equals iat).
        now = int(time.time())
        return {"agency": client.agency, "iat": now, "nbf": now, "exp": now + self.lifetime}


class _PresentedToken:
    """What introspection and revocation share: the token is the one the adapter verified."""

    server: AuthorizationServer
    CLIENT_AUTH_METHODS: ClassVar[list[str]] = list(AUTH_METHODS)
    SUPPORTED_TOKEN_TYPES = ("access_token", "refresh_token")  # the hint is only a hint

    def query_token(self, token_string: str, token_type_hint: str | None) -> IssuedToken | None:
        exchange = self.server.exchange
        if exchange.token is None or token_string != exchange.token_string:
            return None
        return IssuedToken(exchange.token)


class Introspection(_PresentedToken, IntrospectionEndpoint):  # type: ignore[misc]
    """RFC 7662. A client may introspect its own tokens, an ``admin`` client any; every other
    case, like an expired, revoked, malformed or foreign token, is ``{"active": false}``."""

    def check_permission(self, token: IssuedToken, client: OAuthClient, request: object) -> bool:
        return client.may_introspect(token)

    def introspect_token(self, token: IssuedToken) -> dict[str, Any]:
        claims = token.claims
        names = ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "nbf", "jti", "agency")
        return {"active": True, "token_type": "Bearer"} | {
            k: claims[k] for k in names if k in claims
        }


class Revocation(_PresentedToken, RevocationEndpoint):  # type: ignore[misc]
    """RFC 7009. A client may revoke only its own tokens (another's: ``invalid_grant``); an
    unknown, expired or already revoked token is answered 200 as the RFC asks."""

    def revoke_token(self, token: IssuedToken, request: object) -> None:
        self.server.exchange.revoked.append(token.verified)


class AuthorizationServer(_AuthlibServer):  # type: ignore[misc]
    """authlib's server over one :class:`Exchange`."""

    def __init__(self, auth: AuthSettings, exchange: Exchange) -> None:
        super().__init__(scopes_supported=sorted(SCOPES))
        self.exchange = exchange
        self.register_grant(ClientCredentials)
        self.register_endpoint(Introspection)
        self.register_endpoint(Revocation)
        self.register_token_generator(GRANT_TYPE, AccessTokens(auth, exchange))

    def authenticate_client(
        self, request: OAuth2Request, methods: list[str], endpoint: str = "token"
    ) -> OAuthClient:
        """authlib's client authentication, every failure made the same 401: an unknown client,
        a wrong secret and a disabled client or agency are not told apart."""
        try:
            client: OAuthClient = super().authenticate_client(request, methods, endpoint)
        except InvalidClientError as exc:
            raise InvalidClientError(
                description="client authentication failed", status_code=401
            ) from exc
        return client

    def query_client(self, client_id: str) -> OAuthClient:
        return OAuthClient(client_id, self.exchange.clients.get(client_id), self.exchange.secrets)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        # Nothing to store (tokens are self-contained JWTs): remembered for the audit record.
        claims = decode_segment(token["access_token"].split(".")[1])
        self.exchange.issued.append(claims)

    def send_signal(self, name: str, *args: object, **kwargs: object) -> None:
        """authlib's hook for framework signals; ndxp audits from the adapter instead."""

    def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
        return request  # the adapter already built it from the HTTP request

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> Reply:
        return status, body, [_with_realm(name, value) for name, value in headers]


def _with_realm(name: str, value: str) -> tuple[str, str]:
    # authlib's Basic challenge for invalid_client has no realm, which RFC 7617 requires.
    if name.lower() == "www-authenticate" and value.startswith("Basic ") and "realm=" not in value:
        value = f'Basic realm="{REALM}", {value[len("Basic ") :]}'
    return name, value
