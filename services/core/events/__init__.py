"""Writing events: the one path from records to a dataset's topic, for every service.

- ``writer.py``: :class:`EventWriter`, what the gateway's publish route and every source
  connector call: batch → standard headers → send → count → audit.
- ``encode.py``: a publish request's records parsed, validated and encoded; the standard
  headers of every event (:func:`~services.core.events.encode.event_headers`); event ids.
- ``body.py``: a publish request's body (JSON, NDJSON, raw Avro) read within its limits.
- ``transactions.py``: the gateway's sender: batches in Kafka transactions, grouped.
- ``overlap.py``: a publish's audit record written while Kafka commits its transaction (and
  annulled by ``publish.abort`` if that transaction does not commit).
- ``direct.py``: connect's sender: one idempotent producer; the source offset is the commit.

In: contracts (``services.core.avro``), producers (``services.core.kafka``). Out: records on
dataset and dead-letter topics, ``ndxp_events_published_total`` and bytes
(``services.core.sharing.metrics``), ``publish`` audit records (``services.core.audit``).
Imports only ``services.core``; reading events back is ``services.core.sharing.delivery``.
"""
