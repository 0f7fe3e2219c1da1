"""Which credentials a command uses: flags, then the environment, then the demo client."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import httpx
import pytest

from services.core.auth.client_credentials import ClientCredentialsAuth
from services.core.cli.credentials import (
    BearerToken,
    Credentials,
    WhenAsked,
    add_options,
    resolve,
)
from services.core.cli.errors import CommandError

GATEWAY = "http://gw.example.vn:8080"


def parse(*flags: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_options(parser)
    return parser.parse_args(flags)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data dir ``ndxp up`` seeded: its demo client's file."""
    (tmp_path / "demo-client.json").write_text(
        json.dumps({"client_id": "demo-tool-x1", "client_secret": "demo-secret"})
    )
    return tmp_path


def used(credentials: Credentials) -> tuple[str, str | None, str | None]:
    """(tried, the bearer token or the client id, the token endpoint)."""
    auth = credentials.auth
    if isinstance(auth, BearerToken):
        assert credentials.token_endpoint is None
        return credentials.tried, auth.token, None
    if isinstance(auth, WhenAsked):  # the demo client
        auth = auth.client
    if isinstance(auth, ClientCredentialsAuth):
        assert credentials.token_endpoint == auth.token_url
        return credentials.tried, auth.client_id, auth.token_url
    assert auth is None
    return credentials.tried, None, None


ENV = {
    "NDXP_TOKEN": "env-token",
    "NDXP_CLIENT_ID": "env-client",
    "NDXP_CLIENT_SECRET": "env-secret",
    "NDXP_GATEWAY_URL": GATEWAY,
}
TOKEN_URL = f"{GATEWAY}/oauth2/token"


@pytest.mark.parametrize(
    ("flags", "environ", "expected"),
    [
        (["--token", "t1"], ENV, ("the token from --token", "t1", None)),
        (
            ["--client-id", "c1", "--client-secret", "s1"],
            ENV,
            ("client c1 from --client-id/--client-secret", "c1", TOKEN_URL),
        ),
        (  # a flag beats the environment whatever their kinds; the secret may be exported
            ["--client-id", "c1"],
            ENV,
            ("client c1 from --client-id", "c1", TOKEN_URL),
        ),
        ([], ENV, ("the token from NDXP_TOKEN", "env-token", None)),
        (
            [],
            {k: v for k, v in ENV.items() if k != "NDXP_TOKEN"},
            ("client env-client from NDXP_CLIENT_ID/NDXP_CLIENT_SECRET", "env-client", TOKEN_URL),
        ),
        (
            ["--gateway", "https://hub.gov.vn/"],
            {"NDXP_CLIENT_ID": "c", "NDXP_CLIENT_SECRET": "s", "NDXP_GATEWAY_URL": GATEWAY},
            (
                "client c from NDXP_CLIENT_ID/NDXP_CLIENT_SECRET",
                "c",
                "https://hub.gov.vn/oauth2/token",
            ),
        ),
    ],
)
def test_given_credentials_win_in_order(
    data_dir: Path, flags: list[str], environ: dict[str, str], expected: tuple[str, ...]
) -> None:
    assert used(resolve(parse(*flags), data_dir, environ)) == expected


def test_the_demo_client_of_the_data_dir_is_the_fallback(data_dir: Path) -> None:
    credentials = resolve(parse(), data_dir, {"NDXP_GATEWAY_URL": GATEWAY})
    assert isinstance(credentials.auth, WhenAsked)  # only for a service that asks for a token
    tried, client_id, token_url = used(credentials)
    demo = data_dir / "demo-client.json"
    assert (tried, client_id, token_url) == (f"the demo client demo-tool-x1 from {demo}",
                                             "demo-tool-x1", TOKEN_URL)  # fmt: skip


def test_the_gateway_defaults_to_the_issuer(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NDXP_AUTH_ISSUER", "https://issuer.gov.vn")
    _, _, token_url = used(resolve(parse(), data_dir, {}))
    assert token_url == "https://issuer.gov.vn/oauth2/token"
    monkeypatch.delenv("NDXP_AUTH_ISSUER")
    _, _, token_url = used(resolve(parse(), data_dir, {}))
    assert token_url == "http://127.0.0.1:8080/oauth2/token"


def test_without_anything_nothing_is_sent_and_the_message_says_so(tmp_path: Path) -> None:
    tried, token, _ = used(resolve(parse(), tmp_path, {}))
    assert token is None
    assert tried == f"no credentials (none given, and no {tmp_path / 'demo-client.json'})"


@pytest.mark.parametrize(
    ("flags", "environ", "message"),
    [
        (["--client-id", "c"], {}, "--client-id needs --client-secret (or NDXP_CLIENT_SECRET)"),
        (["--client-secret", "s"], {}, "--client-secret needs --client-id"),
        ([], {"NDXP_CLIENT_ID": "c"}, "NDXP_CLIENT_ID and NDXP_CLIENT_SECRET go together"),
        ([], {"NDXP_CLIENT_SECRET": "s"}, "NDXP_CLIENT_ID and NDXP_CLIENT_SECRET go together"),
    ],
)
def test_half_a_client_is_a_usage_error(
    data_dir: Path, flags: list[str], environ: dict[str, str], message: str
) -> None:
    with pytest.raises(CommandError) as refused:
        resolve(parse(*flags), data_dir, environ)
    assert (refused.value.message, refused.value.exit_code) == (message, 2)


def test_a_demo_file_that_is_not_a_client_is_said_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "demo-client.json").write_text('{"client_id": "x"}')
    with pytest.raises(CommandError, match="does not hold a client_id and a client_secret"):
        resolve(parse(), tmp_path, {})


def test_the_demo_client_is_sent_once_a_service_asks_for_credentials(data_dir: Path) -> None:
    seen: list[tuple[str, str | None]] = []

    def hub(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth2/token":
            return httpx.Response(200, json={"access_token": "demo-token", "expires_in": 900})
        authorization = request.headers.get("authorization")
        seen.append((request.url.host, authorization))
        if request.url.host == "open.example.vn" or authorization == "Bearer demo-token":
            return httpx.Response(200, json=[])
        return httpx.Response(401, json={"message": "authentication required"})

    credentials = resolve(parse(), data_dir, {"NDXP_GATEWAY_URL": GATEWAY})
    with httpx.Client(auth=credentials.auth, transport=httpx.MockTransport(hub)) as http:
        assert http.get("https://open.example.vn/subjects").status_code == 200
        assert http.get("https://closed.example.vn/subjects").status_code == 200
        assert http.get("https://closed.example.vn/subjects").status_code == 200
    assert seen == [
        ("open.example.vn", None),  # a service that does not ask gets nothing
        ("closed.example.vn", None),
        ("closed.example.vn", "Bearer demo-token"),
        ("closed.example.vn", "Bearer demo-token"),  # from then on, at once
    ]
