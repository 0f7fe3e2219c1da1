"""The watch over a replica's open streams, on the hub's real control plane: one read gives every
watched stream its verdict (go on with the agreement as read, or end, and why), and what is no
longer watched is forgotten."""

from __future__ import annotations

from services.core.db.engine import create_engine, session_factory
from services.gateway.subscriptions.stream_watch import StreamWatch, Watched
from tests.fixtures.catalog import Hub
from tests.integration.gateway.test_subscriptions import call, revoke, share, subscribe


async def test_one_read_judges_every_watched_stream(hub: Hub) -> None:
    sharing, other = await share(hub), await share(hub)
    kept = (await subscribe(hub, sharing))["id"]
    deleted = (await subscribe(hub, sharing))["id"]
    revoked = (await subscribe(hub, other))["id"]
    agency = sharing.consumer.agency
    keys = {
        "kept": Watched(kept, sharing.agreement["id"], agency),
        "deleted": Watched(deleted, sharing.agreement["id"], agency),
        "revoked": Watched(revoked, other.agreement["id"], other.consumer.agency),
        "not theirs": Watched(kept, sharing.agreement["id"], other.consumer.agency),
    }
    engine = create_engine(hub.gateway.settings.database_url)
    watch = StreamWatch(session_factory(engine), every=3600)  # refreshed by hand below
    try:
        with (
            watch.watching(keys["kept"]),
            watch.watching(keys["deleted"]),
            watch.watching(keys["revoked"]),
            watch.watching(keys["not theirs"]),
        ):
            await watch.refresh()
            assert all(watch.verdict(key).agreement is not None for key in list(keys.values())[:3])
            assert watch.verdict(keys["not theirs"]).reason == "agreement_inactive"

            answer = await call(hub, sharing.consumer, "DELETE", f"/v1/subscriptions/{deleted}")
            assert answer.status_code == 204
            await revoke(hub, other.provider, other.agreement["id"])
            await watch.refresh()

            verdicts = {name: watch.verdict(key) for name, key in keys.items()}
            assert verdicts["kept"].agreement.id == sharing.agreement["id"]
            assert verdicts["deleted"].reason == "subscription_deleted"
            assert verdicts["revoked"].agreement is None
            assert verdicts["revoked"].reason == "agreement_inactive"
        assert all(watch.verdict(key) is None for key in keys.values())
    finally:
        await watch.close()
        await engine.dispose()
