"""The key-encryption key: signing keys are stored encrypted under it (AES-256-GCM).

Production configures it (``NDXP_AUTH_KEY_ENCRYPTION_KEY``: base64 of 32 random bytes, from a
secret store) and gives every gateway replica the same one. Without it, a key file
``<data_dir>/keys/kek`` is created on first use (mode 0600), which suits one machine only.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import os
import secrets
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.core.config import ServiceSettings
from services.core.files import private_dir, private_file

log = logging.getLogger(__name__)

KEY_BYTES: Final = 32
_NONCE_BYTES: Final = 12
_VERSION: Final = "v1"


class KeyEncryptionError(Exception):
    """The key-encryption key is malformed, or does not open a stored key (wrong key)."""


def parse_kek(text: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except binascii.Error as exc:
        raise KeyEncryptionError("the key-encryption key is not valid base64") from exc
    if len(key) != KEY_BYTES:
        raise KeyEncryptionError(
            f"the key-encryption key must be {KEY_BYTES} bytes, not {len(key)}"
        )
    return key


def load_kek(settings: ServiceSettings) -> bytes:
    """The configured key-encryption key, else the data dir's key file (created if missing)."""
    configured = settings.auth.key_encryption_key
    if configured is not None:
        return parse_kek(configured.get_secret_value())
    path = settings.data_dir / "keys" / "kek"
    if path.exists():
        private_file(path)  # narrowed if an earlier version left it wider
    else:
        log.warning(
            "no NDXP_AUTH_KEY_ENCRYPTION_KEY configured: signing keys are encrypted with %s; "
            "production should configure the key (the same one on every gateway replica)",
            path,
        )
        _create_key_file(path)
    return parse_kek(path.read_text())


def _create_key_file(path: Path) -> None:
    # Written to a private temporary file and linked into place: another process starting at the
    # same moment either wins the link (and we read its key) or loses it; nobody reads half a key.
    private_dir(path.parent)
    tmp = path.with_name(f".kek-{os.getpid()}-{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode() + "\n")
        with contextlib.suppress(FileExistsError):  # another process made it first: use theirs
            path.hardlink_to(tmp)
    finally:
        tmp.unlink(missing_ok=True)


def seal(kek: bytes, plaintext: bytes, context: str) -> str:
    """``v1:<base64(nonce | ciphertext+tag)>``, bound to ``context`` (the key id) as AAD."""
    nonce = secrets.token_bytes(_NONCE_BYTES)
    sealed = AESGCM(kek).encrypt(nonce, plaintext, context.encode())
    return f"{_VERSION}:{base64.b64encode(nonce + sealed).decode()}"


def unseal(kek: bytes, sealed: str, context: str) -> bytes:
    version, _, body = sealed.partition(":")
    if version != _VERSION:
        raise KeyEncryptionError(f"unknown sealed-key format {version!r}")
    raw = base64.b64decode(body)
    try:
        return AESGCM(kek).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context.encode())
    except InvalidTag as exc:
        raise KeyEncryptionError(
            "a stored signing key cannot be decrypted: the key-encryption key is not the one it "
            "was encrypted with"
        ) from exc
