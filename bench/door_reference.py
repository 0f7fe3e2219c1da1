"""The reference of ``make bench-door``: a bare FastAPI route verifying the same RS256 JWT.

``python -m bench.door_reference <port> <jwks url> <issuer> <audience>``: fetches the gateway's
JWKS once at start, then serves ``GET /ref``, which verifies the bearer token's signature and
its ``iss``, ``aud`` and ``exp`` with joserfc (the library ndxp uses) and answers a small JSON
body. Nothing else: no control plane, no rate limit: the ceiling ndxp's door is
measured against, run by uvicorn as ndxp's services are.
"""

from __future__ import annotations

import sys
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI, HTTPException, Request
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet


def create_app(jwks_url: str, issuer: str, audience: str) -> FastAPI:
    keys = KeySet.import_key_set(httpx.get(jwks_url, timeout=10).json())
    claims = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": issuer}, aud={"essential": True, "value": audience}
    )
    app = FastAPI()

    @app.get("/ref")
    async def ref(request: Request) -> dict[str, Any]:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            raise HTTPException(401)
        try:
            verified = jwt.decode(token, keys, algorithms=["RS256"])
            claims.validate(verified.claims)
        except (JoseError, ValueError) as exc:
            raise HTTPException(401) from exc
        return {"client_id": verified.claims["client_id"]}

    return app


if __name__ == "__main__":
    port, jwks_url, issuer, audience = sys.argv[1:5]
    app = create_app(jwks_url, issuer, audience)
    uvicorn.run(app, host="127.0.0.1", port=int(port), log_config=None)
