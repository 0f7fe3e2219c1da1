"""Client secrets: slow salted hashes, constant-time checks, a cache that never keeps a secret."""

from __future__ import annotations

import base64

from services.core.auth.secrets import (
    VerifiedSecrets,
    dummy_hash,
    hash_secret,
    new_secret,
    verify_secret,
)

FAST = {"n": 2**4, "r": 1, "p": 1}  # the format and logic, not the cost, are under test


def test_new_secrets_are_long_random_and_url_safe() -> None:
    secrets = {new_secret() for _ in range(50)}
    assert len(secrets) == 50
    for secret in secrets:
        assert len(secret) == 43
        base64.urlsafe_b64decode(secret + "=")


def test_hash_is_self_describing_and_salted() -> None:
    first, second = hash_secret("s3cret"), hash_secret("s3cret")
    assert first != second  # a random salt each time
    scheme, n, r, p, salt, digest = first.split("$")
    assert (scheme, n, r, p) == ("scrypt", str(2**14), "8", "1")
    assert len(base64.urlsafe_b64decode(salt + "==")) == 16
    assert len(base64.urlsafe_b64decode(digest + "=")) == 32
    assert "s3cret" not in first


def test_verify_accepts_the_secret_and_nothing_else() -> None:
    hashed = hash_secret("right", **FAST)
    assert verify_secret("right", hashed)
    assert not verify_secret("wrong", hashed)
    assert not verify_secret("", hashed)
    assert not verify_secret("right", dummy_hash())


def test_verify_uses_the_parameters_stored_in_the_hash() -> None:
    assert verify_secret("x", hash_secret("x", n=2**5, r=2, p=1))


def test_malformed_hashes_never_match_and_never_raise() -> None:
    hashed = hash_secret("x", **FAST)
    for bad in ("", "plain", "bcrypt$1$2$3$4$5", hashed.replace("scrypt", "SCRYPT"),
                "scrypt$a$b$c$d$e", "scrypt$16$1$1$!!$??", "scrypt$1$1$1$AA$AA",
                f"scrypt${2**30}$8$1$AAAA$AAAA", hashed + "$extra"):  # fmt: skip
        assert not verify_secret("x", bad), bad


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_cache_remembers_successes_for_its_ttl_only() -> None:
    clock = Clock()
    cache = VerifiedSecrets(ttl=10, clock=clock)
    hashed = hash_secret("s", **FAST)
    assert not cache.hit("c", "s", hashed)
    assert cache.verify("c", "s", hashed)
    assert cache.hit("c", "s", hashed)
    clock.now = 11
    assert not cache.hit("c", "s", hashed)


def test_cache_never_remembers_failures_nor_matches_another_hash_or_client() -> None:
    cache = VerifiedSecrets(clock=Clock())
    hashed = hash_secret("s", **FAST)
    assert not cache.verify("c", "wrong", hashed)
    assert not cache.hit("c", "wrong", hashed)
    assert cache.verify("c", "s", hashed)
    rotated = hash_secret("s", **FAST)  # a new hash (rotation) misses even for the same secret
    assert not cache.hit("c", "s", rotated)
    assert not cache.hit("other", "s", hashed)


def test_cache_is_bounded() -> None:
    cache = VerifiedSecrets(max_entries=3, clock=Clock())
    hashed = hash_secret("s", **FAST)
    for client in "abcd":
        assert cache.verify(client, "s", hashed)
    assert not cache.hit("a", "s", hashed)  # the oldest went
    assert all(cache.hit(client, "s", hashed) for client in "bcd")
