"""Counters in Redis, for several processes that have Redis but no memcached (``--workers``).

``INCRBY``/``GET`` on ``guessnet:count:KEY``: decimal strings, like the memcached counters, so
nothing but numbers is ever read back.  A round's end increments a few keys once (never a
guess), so a synchronous call is cheap enough; when Redis does not answer, the counts go on
without it and say so (``available``/``incomplete``).
"""

from __future__ import annotations

import redis

from storage.base import Counters
from storage.redis_backend import PREFIX

KEY = PREFIX + "count:"


class RedisCounters(Counters):
    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self.available = True
        self.incomplete = False

    def incr(self, key: str, by: int = 1) -> None:
        try:
            self._client.incrby(KEY + key, by)
            self.available = True
        except redis.RedisError:
            self.available = False
            self.incomplete = True  # this count is lost: the totals are now too low

    def get(self, key: str) -> int | None:
        try:
            value = self._client.get(KEY + key)
        except redis.RedisError:
            self.available = False
            return None
        self.available = True
        return int(value) if isinstance(value, str) and value.isdigit() else 0
