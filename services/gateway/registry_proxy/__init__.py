"""``/registry/*``: the Confluent Schema Registry API through the gateway.

What lives here: ``router.py`` (the catch-all routes) and ``proxy.py`` (authenticate, authorize
with ``services.core.auth.registry_access``, forward the request as judged, stream the answer;
errors in Confluent's format, as the registry's own clients expect).

Flows in: any registry request with a gateway token; the proxy's ``httpx`` client from
``deps.py``. Flows out: the same request to the registry service, its answer streamed back.
May import: ``services.core`` only (its router also ``gateway.deps``).
"""
