"""RFC 8414 authorization server metadata, derived from the issuer URL.

Written out here rather than through authlib's ``AuthorizationServerMetadata``: its validation
insists on a non-empty ``response_types_supported`` and on https URLs, while this server supports
no authorization endpoint at all (so no response type) and runs on plain loopback HTTP locally.
"""

from __future__ import annotations

from typing import Any

from services.core.auth.principal import SCOPES
from services.core.config import AuthSettings
from services.gateway.oauth.models import AUTH_METHODS, GRANT_TYPE

TOKEN_PATH = "/oauth2/token"  # noqa: S105 - a URL path, not a password
JWKS_PATH = "/oauth2/jwks"
INTROSPECT_PATH = "/oauth2/introspect"
REVOKE_PATH = "/oauth2/revoke"
SIGNING_ALGORITHMS = ["RS256"]


def server_metadata(auth: AuthSettings) -> dict[str, Any]:
    base = auth.issuer.rstrip("/")
    methods = list(AUTH_METHODS)
    return {
        "issuer": auth.issuer,
        "token_endpoint": base + TOKEN_PATH,
        "jwks_uri": base + JWKS_PATH,
        "introspection_endpoint": base + INTROSPECT_PATH,
        "revocation_endpoint": base + REVOKE_PATH,
        "grant_types_supported": [GRANT_TYPE],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": methods,
        "introspection_endpoint_auth_methods_supported": methods,
        "revocation_endpoint_auth_methods_supported": methods,
        "scopes_supported": sorted(SCOPES),
        # Not registered by RFC 8414, but what verifiers need to know of RFC 9068 tokens.
        "access_token_signing_alg_values_supported": SIGNING_ALGORITHMS,
    }
