"""RFC 6750 challenges."""

from __future__ import annotations

from services.core.auth.errors import InsufficientScope, InvalidToken, bearer_challenge


def test_challenges() -> None:
    assert bearer_challenge() == 'Bearer realm="ndxp"'
    assert InvalidToken("token expired").headers["WWW-Authenticate"] == (
        'Bearer realm="ndxp", error="invalid_token", error_description="token expired"'
    )
    forbidden = InsufficientScope(("registry:write",))
    assert forbidden.status == 403 and forbidden.code == "insufficient_scope"
    assert forbidden.headers["WWW-Authenticate"] == (
        'Bearer realm="ndxp", error="insufficient_scope", '
        'error_description="needs scope registry:write", scope="registry:write"'
    )


def test_descriptions_cannot_break_the_header() -> None:
    challenge = InvalidToken('bad "quote" \\ and \n newline é').headers["WWW-Authenticate"]
    assert challenge == (
        'Bearer realm="ndxp", error="invalid_token", error_description="bad quote  and  newline "'
    )
