"""Clients and tokens as authlib's server sees them: thin views over what the adapter pre-loaded
from the control plane, so authlib never does I/O of its own."""

from __future__ import annotations

from typing import Any, Final

from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin  # type: ignore[import-untyped]

from services.core.auth.principal import ADMIN
from services.core.auth.secrets import VerifiedSecrets, dummy_hash
from services.core.auth.store import ClientRecord
from services.core.auth.verify import VerifiedToken

GRANT_TYPE: Final = "client_credentials"
AUTH_METHODS: Final = ("client_secret_basic", "client_secret_post")


class OAuthClient(ClientMixin):  # type: ignore[misc]
    """An ndxp client (``record``), or an unknown client id (``record`` None) that never
    authenticates but costs as much to refuse as a known one."""

    def __init__(self, client_id: str, record: ClientRecord | None, secrets: VerifiedSecrets):
        self.client_id = client_id
        self.record = record
        self._secrets = secrets

    @property
    def scopes(self) -> frozenset[str]:
        return self.record.scopes if self.record else frozenset()

    @property
    def agency(self) -> str:
        assert self.record is not None  # noqa: S101 - only authenticated clients get tokens
        return self.record.agency_id

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == GRANT_TYPE

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in AUTH_METHODS

    def check_client_secret(self, client_secret: str) -> bool:
        """The secret is right *and* the client and its agency are enabled; a disabled client
        is refused exactly like a wrong secret (``invalid_client``), telling a caller nothing."""
        hashed = self.record.secret_hash if self.record else dummy_hash()
        matches = self._secrets.verify(self.client_id, client_secret, hashed)
        return matches and self.record is not None and self.record.active

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """All the client's scopes when none are asked for; the asked ones when the client has
        them all; None (``invalid_scope``) when it asks for one it lacks."""
        if not scope:
            return " ".join(sorted(self.scopes))
        requested = list(dict.fromkeys(scope.split()))
        if not set(requested) <= self.scopes:
            return None
        return " ".join(requested)

    def may_introspect(self, token: IssuedToken) -> bool:
        return token.client_id == self.client_id or ADMIN in self.scopes


class IssuedToken(TokenMixin):  # type: ignore[misc]
    """An access token the adapter verified (signature, claims, revocation, client status)
    before authlib ran: if one exists, it is active."""

    def __init__(self, verified: VerifiedToken) -> None:
        self.verified = verified
        self.claims: dict[str, Any] = verified.claims

    @property
    def client_id(self) -> str:
        return self.verified.principal.client_id

    def check_client(self, client: OAuthClient) -> bool:
        return self.client_id == client.get_client_id()

    def get_scope(self) -> str:
        return str(self.claims.get("scope", ""))

    def get_expires_in(self) -> int:
        return int(self.claims["exp"]) - int(self.claims["iat"])

    def is_expired(self) -> bool:
        return False

    def is_revoked(self) -> bool:
        return False
