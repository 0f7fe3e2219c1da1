"""Grafana dashboards as code: the boards in Python, their JSON generated and committed.

- ``model``: boards, rows, panels, queries and variables as plain data (no Grafana import).
- ``boards``: the six dashboards (hub overview, dataset, consumer, connectors, Kafka, identity
  and audit), a line per panel, on the series the services and the broker's JMX exporter export
  and on the recording rules of ``deploy/monitoring/rules/``.
- ``render``: a board as Grafana's JSON, through grafana-foundation-sdk (a dev dependency: only
  whoever changes a board needs it; operators load the committed JSON).
- ``build``: ``python -m services.hub.dashboards`` (``make dashboards``) writes
  ``deploy/monitoring/grafana/dashboards/*.json``; ``--check`` says which are stale.

The generator lives beside ``monitor`` (which renders ``deploy/monitoring/`` for ``ndxp
monitor``) rather than in ``deploy/``: it is typed and linted with the rest of ``services/``, and
the tests import its boards to run every query against a real Prometheus.
"""
