"""Which registry requests are writes (and need ``registry:write``)."""

from __future__ import annotations

import pytest

from services.core.auth.registry_access import is_write


@pytest.mark.parametrize(
    ("method", "path", "write"),
    [
        ("GET", "/subjects", False),
        ("GET", "/schemas/ids/1", False),
        ("HEAD", "/subjects/s-value/versions", False),
        ("POST", "/subjects/s-value", False),  # is this schema registered?
        ("POST", "/subjects/s-value/", False),
        ("POST", "/compatibility/subjects/s-value/versions/latest", False),
        ("POST", "/compatibility/subjects/s-value/versions", False),
        ("POST", "/subjects/s-value/versions", True),
        ("PUT", "/config", True),
        ("PUT", "/config/s-value", True),
        ("PUT", "/mode", True),
        ("DELETE", "/subjects/s-value", True),
        ("DELETE", "/subjects/s-value/versions/1", True),
        ("POST", "/anything-else", True),
    ],
)
def test_is_write(method: str, path: str, write: bool) -> None:
    assert is_write(method, path) is write
