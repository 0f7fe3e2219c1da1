"""The gateway: the hub's one public entry point (port 8080), a house of rooms by capability.

Rooms (each a subpackage with its router, its logic and its models; its ``__init__`` is its map):

- ``oauth/``        the OAuth2 authorization server: tokens, introspection, revocation, JWKS,
                    signing keys; ``/.well-known/oauth-authorization-server``
- ``identity/``     agencies and their clients (``/v1/admin/...``, ``ndxp agencies|clients``),
                    ``/v1/me``
- ``catalog/``      datasets: creating them, their contracts and metadata (``/v1/datasets``),
                    searching and reading them (``/v1/catalog``)
- ``agreements/``   the agreements workflow (``/v1/agreements``) and its expiry sweeper
- ``audit/``        ``/v1/audit``: the audit trail as each agency may see it
- ``registry_proxy/`` ``/registry/*``: the schema registry's API, authorized and streamed through
- ``publish/``      ``POST /v1/datasets/{dataset}/events``: who may publish, ``Idempotency-Key``;
                    the batch is written by core's ``EventWriter``
- ``subscriptions/`` ``/v1/subscriptions``: subscriptions, pull, ack, SSE streams, push through
                    connect, cursors, consumer groups, delivery limits; records are delivered by
                    core's ``Deliverer``

The hall, shared by every room:

- ``app.py``          ``create_app``: the routers of every room, and the lifespan
- ``state.py``        ``GatewayState``: the one frozen object the lifespan builds (audit trail,
                      OAuth2 pieces, backends, publish and subscribe state, connect's configs
                      writer, the registry proxy's client), and the order it opens them in
- ``deps.py``         that state as ``Annotated`` dependencies (``BackendsDep``, ``PublishDep``,
                      ...) and the scoped callers (``AdminCaller``, ``PublishCaller``, ...)
- ``backends.py``     ``Backends``: the control plane's sessions, the registry client, Kafka
- ``route_errors.py`` the errors each route declares in its OpenAPI document

Flows in: HTTPS requests with OAuth2 tokens. Flows out: SQL to the control plane, produce and
consume to Kafka, HTTP to the registry. Imports: ``services.core`` and itself, never the registry
or connect (they are reached over HTTP and Kafka). Within the gateway a room imports another's
public logic (agreements → catalog → identity; publish → catalog; subscriptions imports no other
room), never its resources: those come from ``GatewayState`` through ``deps.py``, and only routers
depend on ``deps.py``.
"""
