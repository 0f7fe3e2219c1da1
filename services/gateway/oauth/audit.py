"""The one place the authorization server reports what it did.

Audit records (hash-chained, on the audit topic and in the control-plane index) are a later issue;
until then these calls log. Whoever builds the audit trail replaces the bodies, not the callers.
"""

from __future__ import annotations

import logging

log = logging.getLogger("ndxp.audit.oauth")


def record_token_issued(
    *, client_id: str, agency: str, scope: str, jti: str, expires_at: int
) -> None:
    log.info(
        "token issued: client=%s agency=%s scope=%r jti=%s exp=%d",
        client_id,
        agency,
        scope,
        jti,
        expires_at,
    )


def record_token_revoked(*, client_id: str, jti: str) -> None:
    log.info("token revoked: client=%s jti=%s", client_id, jti)
