"""The caller's credentials, the same way for every command that calls a service.

The first of these that is given wins:

1. ``--token``: a bearer token;
2. ``--client-id`` (with ``--client-secret`` or ``NDXP_CLIENT_SECRET``): a client whose token is
   fetched from the gateway's token endpoint;
3. ``NDXP_TOKEN``;
4. ``NDXP_CLIENT_ID`` with ``NDXP_CLIENT_SECRET``;
5. the demo client of the data dir (``<data dir>/demo-client.json``, written by ``ndxp up``), used
   once a service asks for credentials (answers 401): a service that does not ask (a registry
   open to loopback) is called without them, so a demo client left in the default data dir never
   sends the command to a gateway that does not run;
6. nothing: for a service that does not ask for tokens.

Flags come before the environment, whatever their kind, because what is typed on the command line
is meant for this call while a variable may be left over from another. The gateway is
``--gateway`` (``NDXP_GATEWAY_URL``), else ``NDXP_AUTH_ISSUER`` (its public URL).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from services.core.auth.client_credentials import (
    ClientCredentialsAuth,
    Flow,
    TokenRefused,
    token_endpoint,
)
from services.core.auth.identities import DEMO_CLIENT_FILE, ClientFileError, read_client_file
from services.core.cli.errors import SET_UP, CommandError, unreachable
from services.core.config import AuthSettings


class BearerToken(httpx.Auth):
    """A token given as it is."""

    def __init__(self, token: str) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Flow:
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


class WhenAsked(httpx.Auth):
    """A client's tokens, sent once a server answers 401 (and from then on)."""

    requires_response_body = True

    def __init__(self, client: ClientCredentialsAuth) -> None:
        self.client = client
        self.asked = False

    def auth_flow(self, request: httpx.Request) -> Flow:
        if not self.asked:
            response = yield request
            if response.status_code != httpx.codes.UNAUTHORIZED:
                return
            self.asked = True
        yield from self.client.auth_flow(request)


@dataclass(frozen=True)
class Credentials:
    """How a command authenticates (``auth`` None: it sends nothing) and, for its error messages,
    which credentials these are (``tried``) and where their token comes from."""

    auth: httpx.Auth | None
    tried: str
    token_endpoint: str | None = None


def add_options(parser: argparse.ArgumentParser) -> None:
    """Add the credential options to a command's parser."""
    group = parser.add_argument_group("credentials (else NDXP_TOKEN, NDXP_CLIENT_ID/_SECRET, "
                                      "then the data dir's demo client)")  # fmt: skip
    group.add_argument("--token", help="an access token")
    group.add_argument("--client-id", help="a client whose token the gateway issues")
    group.add_argument("--client-secret", help="its secret (or NDXP_CLIENT_SECRET)")
    group.add_argument(
        "--gateway", help="the gateway issuing tokens (NDXP_GATEWAY_URL, else NDXP_AUTH_ISSUER)"
    )


def resolve(args: argparse.Namespace, data_dir: Path, environ: Mapping[str, str]) -> Credentials:
    """The credentials a command was given (see the module's docstring for the order)."""
    gateway = args.gateway or environ.get("NDXP_GATEWAY_URL") or AuthSettings().issuer
    if args.token:
        return Credentials(BearerToken(args.token), "the token from --token")
    if args.client_id:
        secret = args.client_secret or environ.get("NDXP_CLIENT_SECRET")
        if not secret:
            raise CommandError("--client-id needs --client-secret (or NDXP_CLIENT_SECRET)", SET_UP)
        where = "--client-id/--client-secret" if args.client_secret else "--client-id"
        return _client(gateway, args.client_id, secret, f"from {where}")
    if args.client_secret:
        raise CommandError("--client-secret needs --client-id", SET_UP)
    if environ.get("NDXP_TOKEN"):
        return Credentials(BearerToken(environ["NDXP_TOKEN"]), "the token from NDXP_TOKEN")
    client_id, secret = environ.get("NDXP_CLIENT_ID"), environ.get("NDXP_CLIENT_SECRET")
    if client_id and secret:
        return _client(gateway, client_id, secret, "from NDXP_CLIENT_ID/NDXP_CLIENT_SECRET")
    if client_id or secret:
        raise CommandError("NDXP_CLIENT_ID and NDXP_CLIENT_SECRET go together", SET_UP)
    demo = data_dir / DEMO_CLIENT_FILE
    if demo.exists():
        try:
            found = read_client_file(demo)
        except ClientFileError as exc:
            raise CommandError(str(exc), SET_UP) from exc
        client = ClientCredentialsAuth(token_endpoint(gateway), found.client_id, found.secret)
        tried = f"the demo client {found.client_id} from {demo}"
        return Credentials(WhenAsked(client), tried, client.endpoint)
    return Credentials(None, f"no credentials (none given, and no {demo})")


def _client(gateway: str, client_id: str, secret: str, source: str) -> Credentials:
    auth = ClientCredentialsAuth(token_endpoint(gateway), client_id, secret)
    return Credentials(auth, f"client {client_id} {source}", auth.endpoint)


def issue_token(credentials: Credentials, scope: str | None = None) -> str:
    """An access token of ``credentials`` for ``ndxp token``: a given token as it is, or one the
    gateway issues now to the client (narrowed to ``scope``, space-separated, when given)."""
    auth = credentials.auth
    if isinstance(auth, BearerToken):
        if scope:
            raise CommandError("--scope narrows a client's token, not a given token", SET_UP)
        return auth.token
    client = auth.client if isinstance(auth, WhenAsked) else auth
    if not isinstance(client, ClientCredentialsAuth):
        raise CommandError(f"no client to get a token for: {credentials.tried}", SET_UP)
    client.scope = scope
    flow = client.fetch()
    request = next(flow)
    try:
        with httpx.Client() as http:
            response = http.send(request)
            response.read()
        flow.send(response)
    except StopIteration:
        pass
    except httpx.TransportError as exc:
        raise unreachable(exc) from exc
    except TokenRefused as exc:
        raise CommandError(f"{exc}; tried {credentials.tried}") from exc
    if client.access_token is None:  # fetch() either keeps a token or raises
        raise CommandError(f"no token from {client.endpoint}; tried {credentials.tried}")
    return client.access_token
