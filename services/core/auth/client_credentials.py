"""OAuth 2.0 client credentials (RFC 6749 §4.4), as a client of someone else's authorization server.

The one place that fetches, caches and renews such tokens, for three callers:

- ``rest-source``, authenticating to an agency's API: :class:`ClientCredentialsAuth` is an httpx
  auth flow, so the token request goes through the API client's transport, and a 401 from the API
  (the token revoked early, keys rotated, a clock skew) fetches a new token and sends the request
  again, once.
- the ``ndxp`` command calling a service with a client's credentials: the same auth flow on a
  synchronous httpx client (:mod:`services.core.cli.credentials`).
- connect itself at the hub's registry (its own client, see
  :mod:`services.connectors.credentials`): :class:`ClientCredentials` awaits a token for a header
  set by hand; concurrent callers share one token request, and a caller refused with 401 calls
  :meth:`ClientCredentials.renew`.

A token is kept until shortly before it expires: ``expires_in`` less a margin (clocks and queues
are not exact), or :data:`DEFAULT_LIFETIME` when the server does not say (RFC 6749 §5.1 makes it
optional). The client authenticates to the token endpoint with HTTP Basic (``client_secret_basic``,
RFC 6749's default) or with form fields (``client_secret_post``). An endpoint that refuses, or
answers without a token, raises :class:`TokenRefused` with its status and the start of its answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from base64 import b64encode
from collections.abc import Callable, Generator
from typing import Any, Final, Literal
from urllib.parse import quote_plus

import httpx

from services.core.errors import Unavailable
from services.core.excerpts import excerpt

EARLY_SECONDS: Final = 30.0  # renew this long before expiry, or a tenth of a shorter lifetime
DEFAULT_LIFETIME: Final = 300.0  # seconds, when the server does not say
DEFAULT_TIMEOUT: Final = 30.0  # seconds, of the token request
TOKEN_PATH: Final = "/oauth2/token"  # noqa: S105 - the gateway's token endpoint, below its issuer

ClientAuth = Literal["basic", "post"]
Flow = Generator[httpx.Request, httpx.Response, None]


class TokenRefused(Unavailable):
    """The token endpoint gave no token; ``answered`` is its HTTP status (None: no token in a
    successful answer)."""

    code = "token_refused"
    title = "Token refused"

    def __init__(self, message: str, answered: int | None = None) -> None:
        super().__init__(message)
        self.answered = answered


def token_endpoint(issuer: str) -> str:
    """The token endpoint of the gateway whose public URL (and tokens' ``iss``) is ``issuer``."""
    return issuer.rstrip("/") + TOKEN_PATH


class ClientCredentialsAuth(httpx.Auth):
    """Bearer tokens of one client, as an httpx auth flow: fetched when first needed, kept until
    shortly before they expire, and fetched again (once per request) when the server answers 401.

    The token request is sent by whoever drives :meth:`fetch`: the httpx client of the request
    being authenticated, or :meth:`ClientCredentials.token`. ``clock`` (seconds, monotonic) is for
    tests.
    """

    requires_response_body = True  # a token endpoint's answer is read before the flow sees it

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        scope: str | None = None,
        *,
        client_auth: ClientAuth = "basic",
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.scope = scope
        self.client_auth = client_auth
        self.timeout = httpx.Timeout(timeout)
        self.clock = clock
        self.access_token: str | None = None
        self.renew_at = -math.inf

    @property
    def endpoint(self) -> str:
        """The token URL as it may be shown: without its query, which may hold a key."""
        return str(httpx.URL(self.token_url).copy_with(query=None))

    @property
    def fresh(self) -> bool:
        """Whether the token held may still be sent."""
        return self.access_token is not None and self.clock() < self.renew_at

    def renew(self) -> None:
        """Forget the token held (the resource server refused it): the next use fetches one."""
        self.access_token = None

    def auth_flow(self, request: httpx.Request) -> Flow:
        if not self.fresh:
            yield from self.fetch()
        request.headers["Authorization"] = f"Bearer {self.access_token}"
        response = yield request
        if response.status_code == httpx.codes.UNAUTHORIZED:  # revoked early, or a clock skew
            yield from self.fetch()
            request.headers["Authorization"] = f"Bearer {self.access_token}"
            yield request

    def fetch(self) -> Flow:
        """Ask the token endpoint for a new token and keep it: yields the token request, takes
        its response (its body read), and raises :class:`TokenRefused` when it holds no token."""
        response = yield self._token_request()
        self._keep(response)

    def _token_request(self) -> httpx.Request:
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        headers = {"Accept": "application/json"}
        if self.client_auth == "post":
            form |= {"client_id": self.client_id, "client_secret": self.client_secret}
        else:  # RFC 6749 §2.3.1: form-encode both, then HTTP Basic
            pair = f"{quote_plus(self.client_id)}:{quote_plus(self.client_secret)}"
            headers["Authorization"] = f"Basic {b64encode(pair.encode()).decode()}"
        # httpx gives a client's timeout only to the requests it builds, not to those of an auth
        # flow: without this a stuck token endpoint would hang its caller
        extensions = {"timeout": self.timeout.as_dict()}
        return httpx.Request(
            "POST", self.token_url, data=form, headers=headers, extensions=extensions
        )

    def _keep(self, response: httpx.Response) -> None:
        if not response.is_success:
            what = f"answered {response.status_code}: {excerpt(response.text)}"
            raise self._refused(what, response.status_code)
        try:
            body = response.json()
            token = body["access_token"]
        except (ValueError, KeyError, TypeError) as exc:
            raise self._refused(f"gave no access_token: {excerpt(response.text)}") from exc
        if not isinstance(token, str) or not token:
            raise self._refused("gave an access_token that is not a string")
        lifetime = _lifetime(body.get("expires_in"))
        self.access_token = token
        self.renew_at = self.clock() + lifetime - min(EARLY_SECONDS, lifetime / 10)

    def _refused(self, what: str, answered: int | None = None) -> TokenRefused:
        message = f"the token endpoint {self.endpoint} {what} (client {self.client_id!r})"
        return TokenRefused(message, answered)


def _lifetime(expires_in: Any) -> float:
    """Seconds the token is valid for: ``expires_in`` when it is a positive number."""
    try:
        seconds = float(expires_in)
    except (TypeError, ValueError):
        return DEFAULT_LIFETIME
    return seconds if math.isfinite(seconds) and seconds > 0 else DEFAULT_LIFETIME


class ClientCredentials(ClientCredentialsAuth):
    """The same tokens, awaited by a caller that sets ``Authorization`` itself; the token request
    goes through ``http`` with its timeout. Concurrent callers share one token request."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        token_url: str,
        client_id: str,
        client_secret: str,
        scope: str | None = None,
        *,
        client_auth: ClientAuth = "basic",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            token_url,
            client_id,
            client_secret,
            scope,
            client_auth=client_auth,
            timeout=http.timeout,
            clock=clock,
        )
        self.http = http
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        """A valid access token, fetched when the one held is missing or about to expire."""
        async with self._lock:
            if not self.fresh:
                flow = self.fetch()
                response = await self.http.send(next(flow))
                with contextlib.suppress(StopIteration):  # the end of the flow: the token is kept
                    flow.send(response)
            assert self.access_token is not None  # noqa: S101 - fetch sets it or raises
            return self.access_token
