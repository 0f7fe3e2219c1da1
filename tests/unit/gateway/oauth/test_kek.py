"""The key-encryption key and the sealing of private keys."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from services.core.config import AuthSettings, ServiceSettings
from services.gateway.oauth.kek import KeyEncryptionError, load_kek, parse_kek, seal, unseal


def test_configured_key_is_used_and_checked(tmp_path: Path) -> None:
    key = bytes(range(32))
    auth = AuthSettings(key_encryption_key=SecretStr(base64.b64encode(key).decode()))
    assert load_kek(ServiceSettings(data_dir=tmp_path, auth=auth)) == key
    assert not (tmp_path / "keys").exists()
    for bad in ("not base64!", base64.b64encode(b"short").decode()):
        with pytest.raises(KeyEncryptionError):
            parse_kek(bad)


def test_without_configuration_a_private_key_file_is_made_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = ServiceSettings(data_dir=tmp_path, auth=AuthSettings(key_encryption_key=None))
    first = load_kek(settings)
    path = tmp_path / "keys" / "kek"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "production should configure" in caplog.text
    assert load_kek(settings) == first and len(first) == 32
    assert [p.name for p in path.parent.iterdir()] == ["kek"]  # no temporary files left


def test_sealed_keys_open_only_with_their_key_and_their_kid() -> None:
    kek, other = bytes(32), bytes([1] * 32)
    sealed = seal(kek, b"private pem", "kid-1")
    assert sealed.startswith("v1:") and b"private pem" not in base64.b64decode(sealed[3:])
    assert unseal(kek, sealed, "kid-1") == b"private pem"
    with pytest.raises(KeyEncryptionError, match="not the one"):
        unseal(other, sealed, "kid-1")
    with pytest.raises(KeyEncryptionError):  # a sealed key copied onto another row
        unseal(kek, sealed, "kid-2")
    with pytest.raises(KeyEncryptionError, match="format"):
        unseal(kek, "v0:" + sealed[3:], "kid-1")
