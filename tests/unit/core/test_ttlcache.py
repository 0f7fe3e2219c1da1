import asyncio

import pytest

from services.core.ttlcache import TTLCache


async def test_fresh_values_are_served_without_loading_again() -> None:
    cache: TTLCache[int] = TTLCache(ttl=60)
    loads = 0

    async def load() -> int:
        nonlocal loads
        loads += 1
        return loads

    assert await cache.get("k", load) == 1
    assert await cache.get("k", load) == 1
    cache.forget("k")
    assert await cache.get("k", load) == 2


async def test_stale_values_are_loaded_again() -> None:
    cache: TTLCache[str] = TTLCache(ttl=0.01)
    assert await cache.get("k", lambda: asyncio.sleep(0, "a")) == "a"
    await asyncio.sleep(0.02)
    assert await cache.get("k", lambda: asyncio.sleep(0, "b")) == "b"


async def test_concurrent_callers_share_one_load() -> None:
    cache: TTLCache[int] = TTLCache(ttl=60)
    started = 0

    async def slow() -> int:
        nonlocal started
        started += 1
        await asyncio.sleep(0.05)
        return 7

    results = await asyncio.gather(*(cache.get("k", slow) for _ in range(20)))
    assert results == [7] * 20
    assert started == 1


async def test_failures_reach_every_waiter_and_are_not_cached() -> None:
    cache: TTLCache[int] = TTLCache(ttl=60)

    async def broken() -> int:
        await asyncio.sleep(0.01)
        raise RuntimeError("registry down")

    outcomes = await asyncio.gather(
        *(cache.get("k", broken) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(o, RuntimeError) for o in outcomes)
    assert await cache.get("k", lambda: asyncio.sleep(0, 5)) == 5
    with pytest.raises(RuntimeError):
        await TTLCache[int](ttl=1).get("x", broken)
