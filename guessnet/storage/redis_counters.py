"""Counters in Redis, for several processes that have Redis but no memcached (``--workers``).

``INCRBY``/``GET`` on ``guessnet:count:KEY``: decimal strings, like the memcached counters, so
nothing but numbers is ever read back.  ``incr`` only queues (a round's end never waits on a
counter: under load, three or four round trips per round end held handler threads on Redis);
one thread sends what was queued every ``FLUSH_EVERY`` seconds in one pipeline.  ``get`` sends
what is queued first, so a process reads its own counts.  When Redis does not answer, the
counts go on without it and say so (``available``/``incomplete``).
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterable

import redis

from guessnet.storage.base import Counters
from guessnet.storage.redis_backend import PREFIX

KEY = PREFIX + "count:"
FLUSH_EVERY = 0.2  # seconds


class RedisCounters(Counters):
    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self.available = True
        self.incomplete = False
        self._queued: collections.deque[tuple[str, int]] = collections.deque()
        self._send_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="redis-counters", daemon=True)
        self._thread.start()

    def incr(self, key: str, by: int = 1) -> None:
        self._queued.append((key, by))  # a deque: no lock, no wait

    def incr_each(self, keys: Iterable[str]) -> None:
        self._queued.extend((key, 1) for key in keys)

    def get(self, key: str) -> int | None:
        self._send()
        try:
            value = self._client.get(KEY + key)
        except redis.RedisError:
            self.available = False
            return None
        self.available = True
        return int(value) if isinstance(value, str) and value.isdigit() else 0

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._send()

    def _run(self) -> None:
        while not self._stop.wait(FLUSH_EVERY):
            self._send()

    def _send(self) -> None:
        with self._send_lock:
            batch: collections.Counter[str] = collections.Counter()
            while self._queued:
                key, by = self._queued.popleft()
                batch[key] += by
            if not batch:
                return
            try:
                pipe = self._client.pipeline(transaction=False)
                for key, by in batch.items():
                    pipe.incrby(KEY + key, by)
                pipe.execute()
                self.available = True
            except redis.RedisError:
                self.available = False
                self.incomplete = True  # these counts are lost: the totals are now too low
