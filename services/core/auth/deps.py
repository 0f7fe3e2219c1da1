"""FastAPI dependencies of every protected route::

    from services.core.auth.deps import Authenticated, require

    @router.get("/v1/me")
    async def me(principal: Authenticated) -> ...: ...

    @router.post("/v1/datasets/{dataset}/events")
    async def publish(principal: Annotated[Principal, Depends(require(PUBLISH))]) -> ...: ...

``require`` needs *all* the scopes it is given, and ``admin`` does not stand in for the others:
an operator's tool that should publish asks for ``publish`` like any other client, so a leaked
admin token cannot be used to write data and every act is done under the scope that allows it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from services.core.auth.authenticator import Authenticator
from services.core.auth.errors import AUTHENTICATION_ERRORS, InsufficientScope
from services.core.auth.principal import Principal
from services.core.auth.store import AuthStore
from services.core.http.openapi import raising


def get_authenticator(request: Request) -> Authenticator:
    authenticator: Authenticator = request.state.authenticator
    return authenticator


@raising(*AUTHENTICATION_ERRORS)
async def authenticate(request: Request) -> Principal:
    """The caller, from ``Authorization: Bearer <jwt>`` or ``Basic <client_id:secret>``; 401 when
    missing or invalid, 429 when the client is over its rate."""
    principal = await get_authenticator(request).authenticate(request.headers.get("authorization"))
    request.state.principal = principal
    return principal


Authenticated = Annotated[Principal, Depends(authenticate)]


async def get_identity_store(request: Request) -> AuthStore:
    return get_authenticator(request).store


# What a route that changes clients, agencies or revocations tells (``await store.changed()``)
# so that this process's in-memory view holds the change before the response is sent.
IdentityStore = Annotated[AuthStore, Depends(get_identity_store)]


def require(*scopes: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency yielding the caller when it holds every one of ``scopes``, else 403."""
    needed = tuple(scopes)

    @raising(InsufficientScope)
    async def dependency(principal: Authenticated) -> Principal:
        if not all(principal.has(scope) for scope in needed):
            raise InsufficientScope(needed)
        return principal

    return dependency
