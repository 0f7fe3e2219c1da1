"""Pull delivery: long polls that return records and a cursor, acknowledged by committing it.

``GET /v1/subscriptions/{id}/events?max=500&wait=10`` waits up to ``wait`` seconds for at least
one record and returns up to ``max`` of them with a cursor (a gateway told to stop answers within
a second, with what it has). Every pull starts from the
subscription's committed offsets, whichever replica serves it, so records come again until they
are acknowledged: at least once. ``POST /v1/subscriptions/{id}/ack {"cursor": ...}`` commits the
cursor's offsets (never backwards; a cursor from before the last reset is refused with 409).

A replica's pooled consumer of the subscription reads on from where it stands when the committed
offsets are those of the batch it handed out last (the usual pull, ack, pull, with its prefetched
records kept); otherwise it seeks every partition back to the committed offsets, so a pull
repeated without an ack starts where the first did. Cursors hold the consumer's positions, past
the transaction markers of the publish path, so a subscription that has acknowledged everything
has a lag of 0.
"""

from __future__ import annotations

import time
from typing import Any, Final

from services.core.audit import AuditLog
from services.core.auth.principal import Principal
from services.core.db.models import Subscription
from services.core.http.draining import draining
from services.core.sharing.delivery import Delivered, ordered
from services.gateway.subscriptions.consumers import Committed, SubscriptionConsumer
from services.gateway.subscriptions.cursor import Cursor
from services.gateway.subscriptions.lifecycle import load, offset_lag, open_delivery
from services.gateway.subscriptions.subscribe import Subscribe

MAX_RECORDS: Final = 1_000
MAX_WAIT: Final = 30.0
# With wait=0 and records waiting, one fetch round trip is still needed to hand them out.
NO_WAIT_FETCH: Final = 1.0
DRAIN_CHECK: Final = 1.0  # a long poll notices a stopping gateway within this many seconds


async def pull(
    sub: Subscribe,
    principal: Principal,
    subscription_id: str,
    *,
    max_records: int,
    wait: float,
    auth: str | None,
    auditor: AuditLog,
) -> bytes:
    """The JSON body ``{"records": [...], "cursor": "..."}`` of one pull."""
    found, topic, deliverer = await open_delivery(
        sub, principal, subscription_id, "pulls", auth, channel="pull"
    )
    with sub.limits.pulls.holding(principal.agency):  # 429 past the limits
        committed, records, positions = await _read(sub, found, topic, max_records, wait)

    await deliverer.prepare(records)
    batch = Delivered()
    for record in records:
        batch.add(record.partition, record.offset, deliverer.render(record))
    deliverer.observe_lag(records)
    actor = (principal.agency, principal.client_id)
    await deliverer.account(auditor, batch, actor=actor, details={"subscription": found.id})
    cursor = Cursor(found.id, committed.epoch, positions).encode()
    return b'{"records":[' + b",".join(batch.parts) + b'],"cursor":"' + cursor.encode() + b'"}'


async def _read(
    sub: Subscribe, found: Subscription, topic: str, max_records: int, wait: float
) -> tuple[Committed, list[Any], dict[int, int]]:
    """From the subscription's pooled consumer: its committed offsets, the records that came
    within ``wait`` and the positions after them."""
    async with sub.pool.use(found.id, topic, found.group_id) as consumer:
        await consumer.refresh()
        committed = await consumer.committed()
        ends = await consumer.ends()
        if consumer.handed_out != committed.offsets:  # not all acknowledged: from the commit
            consumer.seek(committed.offsets)
        waiting = any(o < ends.get(p, o) for p, o in committed.offsets.items())
        fetched: dict[Any, list[Any]] = {}
        if wait > 0 or waiting:
            fetched = await _fetch(consumer, max_records, wait if wait > 0 else NO_WAIT_FETCH)
        records = ordered(fetched)
        positions = await consumer.positions()
        consumer.handed_out = positions
    return committed, records, positions


async def _fetch(
    consumer: SubscriptionConsumer, max_records: int, wait: float
) -> dict[Any, list[Any]]:
    """The records that come within ``wait`` seconds; none once the gateway is told to stop
    (the server waits for this request to end before it can)."""
    deadline = time.monotonic() + wait
    while True:
        remaining = deadline - time.monotonic()
        fetched = await consumer.fetch(max_records, max(0.0, min(remaining, DRAIN_CHECK)))
        if fetched or remaining <= DRAIN_CHECK or draining():
            return fetched


async def ack(
    sub: Subscribe, principal: Principal, subscription_id: str, cursor_text: str
) -> dict[str, Any]:
    """Commit a pulled cursor; the subscription's committed offsets and lag after it."""
    found, topic = await load(sub, principal, subscription_id, refuse_push="acknowledgements")
    cursor = Cursor.decode(cursor_text).for_subscription(found.id)
    async with sub.pool.use(found.id, topic, found.group_id) as consumer:
        await consumer.refresh()
        committed = await consumer.committed()
        cursor.check_epoch(committed.epoch)
        ends = await consumer.ends()
        cursor.check_within(ends)
        forward = {p: o for p, o in cursor.offsets.items() if o > committed.offsets.get(p, 0)}
        await consumer.commit(forward, committed.epoch)
    committed.offsets.update(forward)
    return {
        "committed": {str(p): o for p, o in sorted(committed.offsets.items())},
        "lag": offset_lag(committed, ends),
    }
