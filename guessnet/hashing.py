"""Password hashing with a bound: scrypt runs in a small fixed pool of worker threads.

One scrypt hash (n=2**14, r=8) takes 16 MiB and tens of milliseconds of CPU.  Run in each
handler thread, 200 simultaneous logins held 200 hashes (3 GiB) at once, and the C library kept
hundreds of MiB afterwards (one malloc arena per thread that hashed).  Here at most ``workers``
hashes run at once, always in the same threads (so at most ``workers`` arenas ever hold a hash's
memory); at most ``waiting`` more wait their turn, and a request that would wait longer than
``patience`` seconds, or find the line full, is refused with ``HashingBusy``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

from guessnet import accounts

T = TypeVar("T")
DEFAULT_WORKERS = os.cpu_count() or 2


class HashingBusy(Exception):
    """Too many password checks are waiting; the message says what to do."""


class PasswordHashing:
    """Callers use ``hash``, ``verify`` and ``close``; threads start with the first hash."""

    def __init__(self, workers: int = DEFAULT_WORKERS, waiting: int = 64,
                 patience: float = 8.0) -> None:
        if workers < 1:
            raise ValueError(f"password hashing needs at least one worker, not {workers}")
        self.workers = workers
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scrypt")
        self._slots = threading.BoundedSemaphore(workers + waiting)
        self._patience = patience

    def _run(self, job: Callable[[], T]) -> T:
        if not self._slots.acquire(blocking=False):
            raise HashingBusy("the server is busy checking passwords: try again in a few "
                              "seconds")
        try:
            future = self._pool.submit(job)
        except BaseException:
            self._slots.release()
            raise
        try:
            return future.result(timeout=self._patience)
        except FutureTimeout:
            future.cancel()
            raise HashingBusy("the server is busy checking passwords: try again in a few "
                              "seconds") from None
        finally:
            # a job still running gives its slot back when it finishes
            future.add_done_callback(lambda _: self._slots.release())

    def hash(self, password: str) -> str:
        return self._run(lambda: accounts.hash_password(password))

    def verify(self, password: str, stored: str) -> bool:
        return self._run(lambda: accounts.verify_password(password, stored))

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
