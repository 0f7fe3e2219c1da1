"""Agreements: a consumer agency asks for a dataset, its provider decides, time expires it.

What lives here:

- ``router.py``   ``/v1/agreements``: request, list, read, approve, reject, revoke
- ``workflow.py`` the workflow behind it (and the derived reader schema registered on approval)
- ``moves.py``    the state machine: who may move an agreement, one conditional UPDATE per move
- ``terms.py``    the bodies, rules on end dates and fields, the agreement's document, errors
- ``audit.py``    each change's audit record and the ``ndxp_agreements{state}`` gauge
- ``expiry.py``   the sweeper writing down agreements past their end as ``expired``

Flows in: the caller's ``Principal`` and bodies from the router; ``Backends`` (control plane,
registry) and the audit log from ``deps.py``. Flows out: rows of ``agreements``, reader schemas
registered in the registry (``ndxp.agreements.<id>-value``), ``agreement.*`` audit records.
Delivery never reads this room: it checks agreements through ``services.core.sharing``.

May import: ``services.core``, ``gateway.backends``, the catalogue's public logic
(``catalog.entries``, ``catalog.metadata``); only the router
imports ``gateway.deps``.
"""
