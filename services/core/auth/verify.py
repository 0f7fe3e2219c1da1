"""Verifying a bearer JWT: the one place every service decides whether a token is good.

In order, and refusing at the first failure: size and shape; ``alg`` in an allow-list of
asymmetric algorithms (never ``none``, never HMAC, so a public key can never be used as a shared
secret); ``iss`` naming the gateway or a configured trusted issuer; ``typ`` (``at+jwt``, RFC 9068;
trusted external issuers may say ``JWT``); the key named by ``kid`` from that issuer's key source;
the signature; ``aud``, ``exp``, ``nbf`` and ``iat`` with the configured leeway; and then that
the token is not revoked and that its client and agency are still enabled, from the process's
in-memory view of the control plane (:mod:`services.core.auth.view`), so revocation and disabling
take effect on every replica within ``view_max_age_seconds`` without a query per request.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

from joserfc import jwt
from joserfc.errors import (
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import ECKey, Key, RSAKey

from services.core.auth.errors import InvalidToken
from services.core.auth.keys import KeySource
from services.core.auth.principal import Principal
from services.core.auth.store import AuthStore, TokenStatus

ALLOWED_ALGORITHMS: Final = frozenset({"RS256", "PS256", "ES256"})
ACCESS_TOKEN_TYPES: Final = frozenset({"at+jwt", "application/at+jwt"})
EXTERNAL_TOKEN_TYPES: Final = ACCESS_TOKEN_TYPES | {"jwt"}
MAX_TOKEN_BYTES: Final = 8192
_KEY_TYPE: Final = {"RS256": RSAKey, "PS256": RSAKey, "ES256": ECKey}


@dataclass(frozen=True)
class Issuer:
    """An issuer whose tokens are accepted. ``own`` is the ndxp gateway: its tokens follow the
    RFC 9068 profile exactly and name a client of the control plane."""

    issuer: str
    audience: str
    keys: KeySource
    own: bool = False
    agency_claim: str = "agency"
    scope_claim: str = "scope"


@dataclass(frozen=True)
class VerifiedToken:
    header: dict[str, Any]
    claims: dict[str, Any]
    principal: Principal


def decode_segment(text: str) -> dict[str, Any]:
    """A JWT header or payload segment as a JSON object, *unverified*."""
    try:
        value = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise InvalidToken("malformed token") from exc
    if not isinstance(value, dict):
        raise InvalidToken("malformed token")
    return value


def _scopes(value: object) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(v for v in value if isinstance(v, str))
    return frozenset()


class TokenVerifier:
    """Validates bearer JWTs and turns them into a :class:`Principal`."""

    def __init__(
        self,
        issuers: Iterable[Issuer],
        store: AuthStore,
        *,
        leeway: int = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._issuers = {issuer.issuer: issuer for issuer in issuers}
        self.store = store
        self.leeway = leeway
        self._clock = clock
        # built once: a request's work is the signature, these checks and dict look-ups
        self._claims = {name: self._claims_registry(i) for name, i in self._issuers.items()}

    async def verify(self, token: str) -> VerifiedToken:
        """The verified token, or :class:`InvalidToken` saying what is wrong with it."""
        issuer, header, claims = await self.decode(token)
        principal = self._principal(issuer, claims)
        await self._check_status(issuer, principal)
        return VerifiedToken(header, claims, principal)

    async def decode(self, token: str) -> tuple[Issuer, dict[str, Any], dict[str, Any]]:
        """Signature and claims checked; the database (revocation, client status) not yet."""
        if len(token) > MAX_TOKEN_BYTES:
            raise InvalidToken("token too large")
        parts = token.split(".")
        if len(parts) != 3:  # noqa: PLR2004 - header.payload.signature
            raise InvalidToken("malformed token")
        header, unverified = decode_segment(parts[0]), decode_segment(parts[1])
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:
            raise InvalidToken(f"algorithm {alg!r} is not accepted")
        issuer = self._issuers.get(unverified.get("iss"))  # type: ignore[arg-type]
        if issuer is None:
            raise InvalidToken("unknown issuer")
        typ = header.get("typ")
        allowed_types = ACCESS_TOKEN_TYPES if issuer.own else EXTERNAL_TOKEN_TYPES
        if not isinstance(typ, str) or typ.lower() not in allowed_types:
            raise InvalidToken(f"token type {typ!r} is not an access token")
        key = await self._key(issuer, header, alg)
        try:
            verified = jwt.decode(token, key, algorithms=[alg])
        except JoseError as exc:
            raise InvalidToken("bad signature") from exc
        self._check_claims(issuer, verified.claims)
        return issuer, verified.header, verified.claims

    async def _key(self, issuer: Issuer, header: dict[str, Any], alg: str) -> Key:
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("token names no key (kid)")
        key = await issuer.keys.key(kid)
        if key is None:
            raise InvalidToken("unknown signing key")
        if not isinstance(key, _KEY_TYPE[alg]) or (key.alg is not None and key.alg != alg):
            raise InvalidToken(f"key {kid} is not for {alg}")
        return key

    def _claims_registry(self, issuer: Issuer) -> jwt.JWTClaimsRegistry:
        essential = ["exp", "iat", "sub"]
        if issuer.own:
            essential += ["jti", "client_id", "scope", issuer.agency_claim]
        return jwt.JWTClaimsRegistry(
            now=lambda: int(self._clock()),
            leeway=self.leeway,
            iss={"essential": True, "value": issuer.issuer},
            aud={"essential": True, "value": issuer.audience},
            **{name: {"essential": True} for name in essential},  # type: ignore[arg-type]
        )

    def _check_claims(self, issuer: Issuer, claims: dict[str, Any]) -> None:
        try:
            self._claims[issuer.issuer].validate(claims)
        except ExpiredTokenError as exc:
            raise InvalidToken("token expired") from exc
        except MissingClaimError as exc:
            raise InvalidToken(f"missing claim(s): {exc.claim}") from exc
        except InvalidClaimError as exc:
            if exc.claim in {"nbf", "iat"}:
                raise InvalidToken("token not yet valid") from exc
            raise InvalidToken(f"invalid claim: {exc.claim}") from exc

    def _principal(self, issuer: Issuer, claims: dict[str, Any]) -> Principal:
        agency = claims.get(issuer.agency_claim)
        client_id = claims.get("client_id") or claims.get("azp") or claims.get("sub")
        jti = claims.get("jti")
        if not isinstance(agency, str) or not agency:
            raise InvalidToken(f"token names no agency ({issuer.agency_claim})")
        if not isinstance(client_id, str) or (jti is not None and not isinstance(jti, str)):
            raise InvalidToken("invalid claim: client_id")
        return Principal(
            agency=agency,
            client_id=client_id,
            scopes=_scopes(claims.get(issuer.scope_claim)),
            issuer=issuer.issuer,
            token_id=jti,
            expires_at=int(claims["exp"]),
        )

    async def _check_status(self, issuer: Issuer, principal: Principal) -> None:
        status: TokenStatus
        if issuer.own:
            status = await self.store.token_status(principal.token_id, principal.client_id)
            unknown = "unknown client"
        else:
            status = await self.store.external_token_status(principal.token_id, principal.agency)
            unknown = "unknown agency"
        if not status.known:
            raise InvalidToken(unknown)
        if status.revoked:
            raise InvalidToken("token revoked")
        if not status.client_enabled:
            raise InvalidToken("client disabled")
        if not status.agency_enabled:
            raise InvalidToken("agency disabled")
