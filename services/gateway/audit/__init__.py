"""``/v1/audit``: the audit trail as each agency may see it.

What lives here: ``router.py`` (the query parameters) and ``trail.py`` (the visibility rule: a
provider sees who received its data, a consumer what it received, any agency its own acts, an
admin everything; the search over ``audit_records``).

Writing audit records is not here: every path that shares calls ``services.core.audit``'s log,
which chains records in ``audit_records`` and relays them to the ``ndxp.audit`` topic.

Flows in: the caller's ``Principal`` and filters; the control plane's sessions (``Core``). Flows
out: pages of audit records. May import: ``services.core`` only.
"""
