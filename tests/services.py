"""Real services for the tests: a missing program fails under ./test.sh, never skips silently.

``./test.sh`` installs redis-server and memcached and sets GUESSNET_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench import services
from bench.services import Service, free_port

__all__ = ["Service", "free_port", "memcached_service", "redis_service"]


def _available(make: object) -> Service:
    try:
        return make()  # type: ignore[operator, no-any-return]
    except services.MissingService as exc:
        if os.environ.get("GUESSNET_REQUIRE_SERVICES"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))


def redis_service(folder: Path | None = None) -> Service:
    return _available(lambda: services.redis_service(folder))


def memcached_service() -> Service:
    return _available(services.memcached_service)
