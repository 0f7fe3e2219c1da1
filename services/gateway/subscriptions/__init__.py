"""Subscriptions: a consumer agency's position on a dataset, and the events delivered from it.

What lives here:

- ``router.py``       ``/v1/subscriptions``: create, list, read, delete, reset; pull
                      (``/events``), ack, and the SSE ``/stream``
- ``lifecycle.py``    a subscription's row and consumer group: creating it where it starts,
                      resetting it (replay within retention), deleting it
- ``lag.py``          every subscription's lag in records, measured in the background by core's
                      collector under the gateway's lease (``ndxp_subscription_lag_records``)
- ``subscribe.py``    ``Subscribe``: what delivery needs at run time, opened by the lifespan
- ``pull.py``         long polls that return records and a cursor; acks that commit it
- ``stream.py``       Server-Sent Events, with ``Last-Event-ID`` and their checks every second
- ``stream_watch.py`` one read of the control plane for all of a replica's open streams
- ``heads.py``        shared head readers: one consumer and one rendering per topic and reader
                      schema for every stream at the head; the join, the leave, the fallback
- ``group_offsets.py`` subscriptions' commits and epochs through one admin client (streams at the
                      head hold no consumer)
- ``push.py``         push subscriptions: the ``webhook-sink`` connector written to connect's
                      configs topic
- ``cursor.py``       the opaque cursor (subscription, epoch, offsets) and its checks
- ``consumers.py``    a consumer group per subscription, partitions assigned by hand, the pool
- ``limits.py``       the replica's delivery limits (streams, pulls, subscriptions per agency)

``consumers.py``, ``heads.py``, ``group_offsets.py`` and ``limits.py`` live here because only
delivery uses them: publishing holds no consumer and no delivery slot (its bounds are the body's
limits in ``services.core.events``).

Flows in: the caller's ``Principal`` (scope ``subscribe``), ``Subscribe`` and
connect's configs writer from ``deps.py``. Flows out: rows of ``subscriptions``, commits of consumer
groups ``ndxp.sub.<id>``, records delivered through core's ``Deliverer``
(``services.core.sharing.delivery``, which checks the agreement), connectors written to connect's
configs topic, ``subscription.*`` audit records and the delivery metrics.

May import: ``services.core`` (agreements through ``services.core.sharing``, never the
agreements room) and ``gateway.backends``; only the router imports ``gateway.deps`` and
``gateway.route_errors``. Never the publish room.
"""
