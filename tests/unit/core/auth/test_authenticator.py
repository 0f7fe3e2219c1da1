"""From an Authorization header to a Principal: Bearer, Basic client credentials, rate limits."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from services.core.auth.authenticator import Authenticator
from services.core.auth.errors import ClientRateLimited, InvalidToken, MissingCredentials
from services.core.auth.ratelimit import RateLimiter
from services.core.auth.secrets import VerifiedSecrets, hash_secret
from services.core.auth.store import ClientRecord
from services.core.auth.verify import TokenVerifier

SECRET = "correct-horse"


class FakeStore:
    def __init__(self) -> None:
        self.records = {
            "c1": ClientRecord("c1", "mps", hash_secret(SECRET, n=16, r=1, p=1),
                               frozenset({"registry:write"}), True, True),
        }  # fmt: skip

    async def client(self, client_id: str) -> ClientRecord | None:
        return self.records.get(client_id)


class FakeVerifier:
    def __init__(self, store: FakeStore) -> None:
        self.store = store

    async def verify(self, token: str) -> Any:
        raise InvalidToken(f"checked {token}")


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


def make(store: FakeStore, burst: int = 100) -> Authenticator:
    verifier: Any = FakeVerifier(store)
    typed: TokenVerifier = verifier
    return Authenticator(
        typed, RateLimiter(1, burst), issuer="https://gw", secrets=VerifiedSecrets()
    )


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def test_basic_client_credentials(store: FakeStore) -> None:
    principal = await make(store).authenticate(basic("c1", SECRET))
    assert (principal.agency, principal.client_id, principal.issuer) == ("mps", "c1", "https://gw")
    assert principal.scopes == {"registry:write"} and principal.token_id is None


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (basic("c1", "wrong"), "invalid client credentials"),
        (basic("nobody", SECRET), "invalid client credentials"),
        (basic("c1", ""), "malformed Basic credentials"),
        ("Basic !!!", "malformed Basic credentials"),
        ("Basic " + base64.b64encode(b"no-colon").decode(), "malformed Basic credentials"),
        ("Bearer", "unsupported or empty Authorization header"),
        ("Digest abc", "unsupported or empty Authorization header"),
        ("Bearer tok", "checked tok"),
    ],
)
async def test_refused(store: FakeStore, header: str, message: str) -> None:
    with pytest.raises(InvalidToken) as caught:
        await make(store).authenticate(header)
    assert caught.value.message == message


@pytest.mark.parametrize("header", [None, ""])
async def test_no_credentials_has_a_challenge_without_error(
    store: FakeStore, header: str | None
) -> None:
    with pytest.raises(MissingCredentials) as caught:
        await make(store).authenticate(header)
    assert caught.value.headers == {"WWW-Authenticate": 'Bearer realm="ndxp"'}


async def test_disabled_client_or_agency(store: FakeStore) -> None:
    record = store.records["c1"]
    for enabled, agency, message in (
        (False, True, "client disabled"),
        (True, False, "agency disabled"),
    ):
        store.records["c1"] = ClientRecord(record.id, record.agency_id, record.secret_hash,
                                           record.scopes, enabled, agency)  # fmt: skip
        with pytest.raises(InvalidToken, match=message):
            await make(store).authenticate(basic("c1", SECRET))


async def test_rate_limit_applies_after_authentication(store: FakeStore) -> None:
    authenticator = make(store, burst=2)
    for _ in range(2):
        await authenticator.authenticate(basic("c1", SECRET))
    with pytest.raises(ClientRateLimited):
        await authenticator.authenticate(basic("c1", SECRET))
    with pytest.raises(InvalidToken):  # failures are not rate limited as that client
        await authenticator.authenticate(basic("c1", "wrong"))
