"""``ndxp up``: the whole hub on one machine, supervised.

- ``parts``: what ``ndxp up`` runs — the local Kafka broker and the three services, each a
  process it can start again — and ``SERVICES``, the services' apps and settings.
- ``restarts``: when a part that exited is started again (back-off) and when no more (the limit).
- ``supervisor``: watches the parts, restarts the one that exits, logs each exit and restart,
  stops everything (services first, the broker last) when told to or when the limit is reached.
- ``up``: the command: broker, migrations, demo identity, services, demo dataset, then ready.
"""
