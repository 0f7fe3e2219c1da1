"""Key rotation as operators run it: the new key is published before it signs, the old one stays
published until its last token has expired, and tokens of both keys verify meanwhile."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import update

from services.core.db.models import SigningKey
from tests.fixtures.cli import ndxp as run_ndxp
from tests.fixtures.gateway import Gateway, bearer, gateway_settings, serve_gateway

CACHE_SECONDS = 4  # JWKS cache: a rotated key signs 4 s after it is published


@pytest.fixture
def gateway(tmp_path: Path, kafka_bootstrap: str) -> Iterator[Gateway]:
    settings = gateway_settings(tmp_path, kafka_bootstrap, jwks_cache_seconds=CACHE_SECONDS)
    with serve_gateway(settings) as gateway:
        yield gateway


def kid_of(token: str) -> str:
    header = json.loads(base64.urlsafe_b64decode(token.split(".", maxsplit=1)[0] + "=="))
    kid: str = header["kid"]
    return kid


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)


async def published(gateway: Gateway) -> list[str]:
    async with gateway.client() as http:
        return [key["kid"] for key in (await http.get("/oauth2/jwks")).json()["keys"]]


async def me(gateway: Gateway, token: str) -> int:
    async with gateway.client() as http:
        return (await http.get("/v1/me", headers=bearer(token))).status_code


async def test_rotation_publishes_first_and_keeps_the_old_key_until_its_tokens_expire(
    gateway: Gateway,
) -> None:
    client_id, secret = await gateway.create_client()
    old_token = await gateway.token(client_id, secret)
    old_kid = kid_of(old_token)

    async with gateway.key_store() as keys:
        new = await keys.rotate()
    rotated = time.monotonic()
    assert new.kid != old_kid
    assert new.active_from - new.created_at == timedelta(seconds=CACHE_SECONDS)

    async def new_key_published() -> bool:
        return new.kid in await published(gateway)

    await eventually(new_key_published)
    # published, but not signing yet: verifiers get time to fetch it
    early_token = await gateway.token(client_id, secret)
    assert time.monotonic() - rotated < CACHE_SECONDS
    assert kid_of(early_token) == old_kid

    new_token = ""

    async def new_key_signs() -> bool:
        nonlocal new_token
        new_token = await gateway.token(client_id, secret)
        return kid_of(new_token) == new.kid

    await eventually(new_key_signs)
    assert time.monotonic() - rotated >= CACHE_SECONDS - 0.5  # not before its time
    assert set(await published(gateway)) == {old_kid, new.kid}
    async with gateway.client() as http:
        jwks = KeySet.import_key_set((await http.get("/oauth2/jwks")).json())
    for token in (old_token, early_token, new_token):
        assert await me(gateway, token) == 200
        jwt.decode(token, jwks, algorithms=["RS256"])  # independently, from the JWKS

    async with gateway.key_store() as keys:
        states = {key.kid: key for key in await keys.keys(fresh=True)}
    assert states[old_kid].retired_at == new.active_from

    # The old key's last tokens have expired (lifetime and leeway after its retirement): gone.
    lifetime = gateway.settings.auth.token_lifetime + gateway.settings.auth.leeway
    async with gateway.session() as session:
        await session.execute(
            update(SigningKey)
            .where(SigningKey.kid == old_kid)
            .values(retired_at=new.active_from - timedelta(seconds=lifetime + 1))
        )

    async def old_key_gone() -> bool:
        return await published(gateway) == [new.kid]

    await eventually(old_key_gone)
    assert await me(gateway, old_token) == 401
    assert await me(gateway, new_token) == 200


async def test_immediate_rotation_signs_at_once(gateway: Gateway) -> None:
    client_id, secret = await gateway.create_client()
    before = await gateway.token(client_id, secret)
    async with gateway.key_store() as keys:
        new = await keys.rotate(immediate=True)
    assert new.active_from == new.created_at

    async def new_key_signs() -> bool:
        return kid_of(await gateway.token(client_id, secret)) == new.kid

    await eventually(new_key_signs, within=CACHE_SECONDS)
    assert await me(gateway, before) == 200  # the old key's tokens still verify


def ndxp(gateway: Gateway, *args: str, kek: str | None = None) -> subprocess.CompletedProcess[str]:
    settings = gateway.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("NDXP_")}
    assert settings.auth.key_encryption_key is not None
    env |= {
        "NDXP_DATA_DIR": str(settings.data_dir),
        "NDXP_AUTH_KEY_ENCRYPTION_KEY": kek or settings.auth.key_encryption_key.get_secret_value(),
        "NDXP_AUTH_JWKS_CACHE_SECONDS": str(CACHE_SECONDS),
    }
    return run_ndxp(*args, env=env)


async def states(gateway: Gateway) -> dict[str, str]:
    listed = await asyncio.to_thread(ndxp, gateway, "keys", "list")
    assert listed.returncode == 0, listed.stderr
    return {
        fields[0]: fields[2] for fields in (line.split("\t") for line in listed.stdout.splitlines())
    }


async def test_ndxp_keys_rotate_and_list(gateway: Gateway) -> None:
    listed = await asyncio.to_thread(ndxp, gateway, "keys", "list")
    assert listed.returncode == 0, listed.stderr
    [first] = listed.stdout.splitlines()
    first_kid, algorithm, state = first.split("\t")[:3]
    assert (algorithm, state) == ("RS256", "signing")

    asked = time.monotonic()
    rotated = await asyncio.to_thread(ndxp, gateway, "keys", "rotate")
    made = time.monotonic()  # the key was created between ``asked`` and now
    assert rotated.returncode == 0, rotated.stderr
    new_kid, _, state = rotated.stdout.splitlines()[0].split("\t")[:3]
    assert state == "next" and new_kid != first_kid

    async def new_key_published() -> bool:
        return new_kid in await published(gateway)

    await eventually(new_key_published)  # the running gateway publishes what the CLI made
    listing = time.monotonic()
    listed_states = await states(gateway)
    waiting = {first_kid: "signing", new_kid: "next"}
    signing = {first_kid: "retired", new_kid: "signing"}  # once verifiers' caches can hold it
    if time.monotonic() - asked < CACHE_SECONDS:
        assert listed_states == waiting
    elif listing - made >= CACHE_SECONDS:  # a loaded machine took that long to get here
        assert listed_states == signing
    else:  # listed around the moment it began to sign
        assert listed_states in (waiting, signing)

    urgent = await asyncio.to_thread(ndxp, gateway, "keys", "rotate", "--immediate")
    urgent_kid, _, state = urgent.stdout.splitlines()[0].split("\t")[:3]
    assert state == "signing"
    assert await states(gateway) == {
        first_kid: "retired",
        new_kid: "retired",
        urgent_kid: "signing",
    }


async def test_a_wrong_key_encryption_key_is_refused_before_anything_changes(
    gateway: Gateway,
) -> None:
    before = await published(gateway)
    wrong = base64.b64encode(os.urandom(32)).decode()
    result = await asyncio.to_thread(ndxp, gateway, "keys", "rotate", kek=wrong)
    assert result.returncode == 1
    assert "cannot be decrypted" in result.stderr
    assert await published(gateway) == before
