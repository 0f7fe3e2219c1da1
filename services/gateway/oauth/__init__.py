"""The OAuth2 authorization server: the gateway issues the tokens every service verifies.

What lives here:

- ``router.py``      token (client credentials, RFC 6749 §4.4; RFC 9068 JWTs), introspection
                     (RFC 7662), revocation (RFC 7009), JWKS (RFC 7517)
- ``well_known.py``  ``/.well-known/oauth-authorization-server`` (RFC 8414), from ``metadata.py``
- ``adapter.py``     Starlette requests to Authlib and back (``OAuthEndpoints``)
- ``server.py``      the Authlib grant and endpoints; ``models.py`` the client and token models
- ``keys.py``        signing keys (RS256) in ``signing_keys``, sealed with the key encryption key
                     of ``kek.py``; rotation; ``commands.py`` is ``ndxp keys ...``
- ``audit.py``       ``token.issue``/``token.revoke`` audit records
- ``resources.py``   ``OAuthState`` (key store, authenticator, endpoints), opened by the lifespan

Flows in: form posts from clients; the control plane's sessions and the audit log. Flows out:
access tokens, rows of ``signing_keys`` and ``revoked_tokens``, the authenticator every protected
route of the gateway uses (core's ``Authenticated`` reads it).

May import: ``services.core`` only (its routers also ``gateway.deps`` and
``gateway.route_errors``).
"""
