"""The audit log of the running service, as a FastAPI dependency."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.core.audit.log import AuditLog


async def get_audit(request: Request) -> AuditLog:  # async: no thread hop per request
    audit: AuditLog = request.state.audit
    return audit


Audit = Annotated[AuditLog, Depends(get_audit)]
