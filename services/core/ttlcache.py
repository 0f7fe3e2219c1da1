"""A small async cache with a time to live and single-flight loading.

For answers that may be a few seconds stale (a catalogue entry's contract, a topic's offsets):
concurrent requests for one key share one load instead of each asking the registry or Kafka.
Failures are not cached.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class TTLCache(Generic[V]):
    def __init__(self, ttl: float, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._values: dict[Hashable, tuple[float, V]] = {}
        self._loading: dict[Hashable, asyncio.Future[V]] = {}

    async def get(self, key: Hashable, load: Callable[[], Awaitable[V]]) -> V:
        """The cached value of ``key`` if it is fresh, else what ``load()`` returns."""
        now = time.monotonic()
        cached = self._values.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        pending = self._loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        try:
            value = await load()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here, so an unawaited failure is not logged
            raise
        finally:
            del self._loading[key]
        future.set_result(value)
        if len(self._values) >= self.max_entries:
            self._values.clear()
        self._values[key] = (time.monotonic() + self.ttl, value)
        return value

    def forget(self, key: Hashable) -> None:
        self._values.pop(key, None)
