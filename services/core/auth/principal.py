"""Who is calling: the agency, the client and the scopes a verified access token grants."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from services.core.auth.errors import InsufficientScope

CATALOG_READ: Final = "catalog:read"
PUBLISH: Final = "publish"
SUBSCRIBE: Final = "subscribe"
REGISTRY_WRITE: Final = "registry:write"
AGREEMENTS_MANAGE: Final = "agreements:manage"
ADMIN: Final = "admin"
METRICS_READ: Final = "metrics:read"  # /metrics names datasets, NON_PUBLIC ones included
SCOPES: Final = frozenset(
    {CATALOG_READ, PUBLISH, SUBSCRIBE, REGISTRY_WRITE, AGREEMENTS_MANAGE, ADMIN, METRICS_READ}
)


@dataclass(frozen=True)
class Principal:
    """The verified caller. ``token_id`` is the token's ``jti`` (None for HTTP Basic callers)."""

    agency: str
    client_id: str
    scopes: frozenset[str]
    issuer: str
    token_id: str | None = None
    expires_at: int | None = None

    def has(self, scope: str) -> bool:
        return scope in self.scopes

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.scopes

    def require_any(self, *scopes: str) -> None:
        """403 ``insufficient_scope`` unless the caller holds at least one of ``scopes``."""
        if not any(scope in self.scopes for scope in scopes):
            raise InsufficientScope(scopes)
