"""Publish: a provider agency writes a batch of events to its dataset's topic, all or nothing.

What lives here:

- ``router.py``            ``POST /v1/datasets/{dataset}/events``: the body's form, the
                           ``Idempotency-Key`` header, the answer (201, or the one replayed)
- ``batch.py``             ``PublishState`` and the publish path: who may publish to which
                           dataset, then one call to core's ``EventWriter.publish`` with the
                           key's ``KeyLedger`` (intent before the commit, answer after it)
- ``idempotency.py``       ``IdempotencyKeys``: claiming, renewing, taking over and answering a key
- ``idempotency_kafka.py`` ``KafkaOutcome``: whether a dead owner's batch was committed (fencing
                           its transactional id, then a read_committed read)

Flows in: the caller's ``Principal`` (scope ``publish``), the request body, ``PublishState`` and
the audit log from ``deps.py``. Flows out: one Kafka transaction per batch (written by
``services.core.events``), rows of ``idempotency_keys``, ``publish`` audit records and
the ``ndxp_events_published_total`` family of metrics.

May import: ``services.core``, ``gateway.backends``, the catalogue's public logic
(``catalog.entries``, ``catalog.metadata``); only the router imports ``gateway.deps`` and
``gateway.route_errors``. Never the subscriptions room: the two share only what is in core.
"""
