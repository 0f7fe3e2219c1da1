"""Private files and directories: what the data dir holds is for the hub's own user only.

The data dir keeps the control-plane SQLite file (client secret hashes, encrypted signing keys,
agreements), the key-encryption key, client credentials and the local broker's events. So ndxp
creates its directories 0700 and every file in them holding a secret 0600, whatever the process
umask, and tightens ones an earlier version left wider. Everything that writes there goes through
these helpers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
from pathlib import Path
from typing import Final

PRIVATE_DIR: Final = 0o700
PRIVATE_FILE: Final = 0o600
_OTHERS: Final = 0o077  # any group or other permission bit

log = logging.getLogger(__name__)


def private_dir(path: Path) -> Path:
    """``path`` as a directory only its owner may enter: missing components are created 0700,
    and ``path`` itself is narrowed to 0700 if it is wider (unless it is a shared directory, with
    the sticky bit like ``/tmp``, or someone else's: those are only reported)."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for component in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made meanwhile by another process
            component.mkdir(mode=PRIVATE_DIR)
        component.chmod(PRIVATE_DIR)  # mkdir's mode is narrowed by the umask, never widened
    _narrow(path, PRIVATE_DIR, shared_ok=True)
    return path


def private_file(path: Path) -> Path:
    """``path`` as a file only its owner may read or write: created empty if missing (its
    directory too, privately), narrowed to 0600 if it exists with a wider mode."""
    if not path.parent.exists():
        private_dir(path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    _narrow(path, PRIVATE_FILE)
    return path


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole, mode 0600: through a private temporary file renamed into
    place, so no reader ever sees the secret half written or under a wider mode."""
    if not path.parent.exists():
        private_dir(path.parent)
    tmp = path.with_name(f".{path.name}-{os.getpid()}-{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _narrow(path: Path, mode: int, *, shared_ok: bool = False) -> None:
    found = path.stat()
    if not found.st_mode & _OTHERS:
        return
    if shared_ok and (found.st_mode & stat.S_ISVTX or found.st_uid != os.geteuid()):
        log.warning(
            "%s is open to other users (mode %o) and not ndxp's own to narrow; keep the data "
            "dir private",
            path,
            stat.S_IMODE(found.st_mode),
        )
        return
    path.chmod(mode)
