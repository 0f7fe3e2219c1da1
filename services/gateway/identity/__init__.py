"""Identity: the hub's member agencies, their OAuth2 clients, and who the caller is.

What lives here:

- ``agencies_router.py`` ``/v1/admin/agencies``: create, list, read, disable, enable; an
                         agency's clients (scope ``admin``)
- ``clients_router.py``  ``/v1/admin/clients/{id}``: rotate a secret, disable, enable
- ``me_router.py``       ``/v1/me``: the caller as the gateway sees its token
- ``agencies.py``        the logic of both routers and of the CLI; secrets shown once, stored
                         hashed
- ``last_admin.py``      no change through the API may leave the hub without an admin client
- ``commands.py``        ``ndxp agencies ...`` and ``ndxp clients ...`` on the control plane

Flows in: admin requests, CLI arguments; the control plane's sessions (``Core``). Flows out:
rows of ``agencies`` and ``clients``.

May import: ``services.core`` only (its routers also ``gateway.deps`` and
``gateway.route_errors``). The catalogue imports its errors; OAuth2 reads clients through
``services.core.auth``.
"""
