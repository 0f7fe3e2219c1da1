"""Authentication failures as RFC 6750 describes them: a 401 or 403 with a ``WWW-Authenticate``
challenge that tells the client what was wrong."""

from __future__ import annotations

from typing import Final

from services.core.errors import Forbidden, RateLimited, Unauthorized, Unavailable

REALM: Final = "ndxp"


def _quoted(text: str) -> str:
    # RFC 6750 restricts error_description to printable ASCII without '"' and '\'.
    return "".join(c for c in text if 0x20 <= ord(c) <= 0x7E and c not in '"\\')  # noqa: PLR2004


def bearer_challenge(error: str | None = None, description: str | None = None, **extra: str) -> str:
    """The ``WWW-Authenticate`` value: ``Bearer realm="ndxp"[, error="...", ...]``."""
    params = {"realm": REALM}
    if error:
        params["error"] = error
    if description:
        params["error_description"] = description
    params.update(extra)
    return "Bearer " + ", ".join(f'{k}="{_quoted(v)}"' for k, v in params.items())


class MissingCredentials(Unauthorized):
    """No credentials at all: per RFC 6750 §3.1 the challenge carries no error code."""

    code = "unauthorized"

    def __init__(self, message: str = "authentication required: send a bearer token") -> None:
        super().__init__(message, headers={"WWW-Authenticate": bearer_challenge()})


class InvalidToken(Unauthorized):
    """Credentials were sent but are not acceptable: malformed, expired, revoked, wrong issuer,
    wrong secret, disabled client... The description says which, never anything secret."""

    code = "invalid_token"
    title = "Invalid credentials"

    def __init__(self, message: str) -> None:
        super().__init__(
            message, headers={"WWW-Authenticate": bearer_challenge("invalid_token", message)}
        )


class InsufficientScope(Forbidden):
    """A valid token without the scope the request needs."""

    code = "insufficient_scope"
    title = "Insufficient scope"

    def __init__(self, scopes: tuple[str, ...]) -> None:
        needed = " ".join(scopes)
        super().__init__(
            f"this request needs the scope(s): {needed}",
            headers={
                "WWW-Authenticate": bearer_challenge(
                    "insufficient_scope", f"needs scope {needed}", scope=needed
                )
            },
        )


class ClientRateLimited(RateLimited):
    def __init__(self, client_id: str, retry_after: int) -> None:
        super().__init__(
            f"client {client_id} is over its request rate; retry in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )


# What authenticating a request can answer: no or bad credentials, the client over its rate, or
# the keys of the token's issuer out of reach.
AUTHENTICATION_ERRORS: Final = (MissingCredentials, InvalidToken, ClientRateLimited, Unavailable)
