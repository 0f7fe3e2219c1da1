"""The one place the authorization server reports what it did: tokens issued and revoked become
audit records (``token.issue``, ``token.revoke``) in the hub's hash-chained trail."""

from __future__ import annotations

from services.core.audit import AuditEvent, AuditLog


async def record_token_issued(
    audit: AuditLog, *, client_id: str, agency: str, scope: str, jti: str, expires_at: int
) -> None:
    details = {"scope": scope, "jti": jti, "expires_at": expires_at}
    await audit.record(AuditEvent("token.issue", agency, client_id, details=details))


async def record_token_revoked(audit: AuditLog, *, agency: str, client_id: str, jti: str) -> None:
    await audit.record(AuditEvent("token.revoke", agency, client_id, details={"jti": jti}))
