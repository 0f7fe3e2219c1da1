"""The HTTP client of commands that call a service.

Its requests carry the command's :class:`~services.core.cli.credentials.Credentials`; a refusal of
them (401 or 403, from the service or from the token endpoint) and a server that cannot be reached
stop the command with one line saying what was tried, e.g. ``401 from http://127.0.0.1:8081/...:
authentication required; tried the demo client demo-demo-tool-x1y2z3 from /data/demo-client.json``.
"""

from __future__ import annotations

from typing import Any, Final

import httpx

from services.core.auth.client_credentials import TokenRefused
from services.core.cli.credentials import Credentials
from services.core.cli.errors import CommandError, unreachable
from services.core.excerpts import excerpt

TIMEOUT: Final = 30.0
REFUSED: Final = frozenset({httpx.codes.UNAUTHORIZED, httpx.codes.FORBIDDEN})


class ServiceClient(httpx.Client):
    """An httpx client on one service's base URL, authenticated with ``credentials``."""

    def __init__(self, base_url: str, credentials: Credentials, timeout: float = TIMEOUT) -> None:
        super().__init__(base_url=base_url, auth=credentials.auth, timeout=timeout)
        self.credentials = credentials

    def send(self, request: httpx.Request, **options: Any) -> httpx.Response:
        try:
            response = super().send(request, **options)
        except httpx.TransportError as exc:
            raise unreachable(exc) from exc
        except TokenRefused as exc:
            what = str(exc.answered) if exc.answered else "no token"
            where = self.credentials.token_endpoint or "the token endpoint"
            raise CommandError(f"{what} from {where}: tried {self.credentials.tried}") from exc
        if response.status_code in REFUSED:
            url = request.url.copy_with(query=None)
            raise CommandError(
                f"{response.status_code} from {url}: {answer_detail(response)}; "
                f"tried {self.credentials.tried}"
            )
        return response


def answer_detail(response: httpx.Response) -> str:
    """What a service said about an error, in one line: problem+json's ``detail``, Confluent's
    ``message``, OAuth2's ``error_description``, or the start of the body."""
    try:
        body = response.read() and response.json()
    except ValueError:
        return excerpt(response.text)
    if isinstance(body, dict):
        for key in ("detail", "message", "error_description", "error"):
            if isinstance(body.get(key), str) and body[key]:
                return excerpt(body[key])
    return excerpt(response.text)
