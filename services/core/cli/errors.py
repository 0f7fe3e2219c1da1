"""Expected failures of a command, told in one line.

A command raises :class:`CommandError` for what it knows can go wrong; :func:`run_guarded` also
recognises what the libraries raise for the usual reasons (a server that does not answer, a
refused request, a missing file, a bad ``NDXP_*`` value, a database that cannot be opened) and
prints it as ``<command>: <what happened>`` on stderr. Exit status 1, or 2 for something to set
up first (as argparse does for bad flags); 130 after Ctrl-C. Any other exception is a bug: its
traceback is shown.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Final

import httpx
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError

from services.core.errors import NdxpError

SET_UP: Final = 2  # the exit status of "set something up first", as argparse's for bad flags
INTERRUPTED: Final = 130


class CommandError(Exception):
    """What went wrong, in one line, and the command's exit status."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def unreachable(exc: httpx.TransportError) -> CommandError:
    """``cannot reach http://host:port: connection refused`` (or what else kept it away)."""
    try:
        url = exc.request.url
        where = f"{url.scheme}://{url.netloc.decode()}"
    except RuntimeError:  # an error raised without its request
        where = "the server"
    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        reason = f"no answer in time ({text})"
    elif "refused" in text.lower():
        reason = "connection refused"
    else:
        reason = text
    return CommandError(f"cannot reach {where}: {reason}")


def expected(exc: BaseException) -> CommandError | None:
    """The one line an expected failure is told in; None for anything else (a bug)."""
    if isinstance(exc, CommandError):
        return exc
    if isinstance(exc, httpx.TransportError):
        return unreachable(exc)
    exit_code = 1
    if isinstance(exc, NdxpError):
        message = exc.message
    elif isinstance(exc, ValidationError):
        message, exit_code = f"invalid configuration: {_validation(exc)}", SET_UP
    elif isinstance(exc, OperationalError):
        message = f"the control-plane database: {exc.orig}"
    elif isinstance(exc, OSError):
        message = _os_error(exc)
    else:
        return None
    return CommandError(message, exit_code)


def _validation(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()
    )


def _os_error(exc: OSError) -> str:
    if exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc) or type(exc).__name__


def run_guarded(name: str, command: Callable[[], int]) -> int:
    """``command()``'s exit status; an expected failure printed as one line instead of raised."""
    try:
        return command()
    except KeyboardInterrupt:
        return INTERRUPTED
    except Exception as exc:
        error = expected(exc)
        if error is None:
            raise
        print(f"{name}: {error.message}", file=sys.stderr)  # noqa: T201 - the command's diagnostics
        return error.exit_code
