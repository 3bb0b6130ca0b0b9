"""A service's background thread: one job every few seconds, from ``start`` until ``close``."""

from __future__ import annotations

import threading
from collections.abc import Callable


class Ticker:
    """Calls ``job`` every ``interval`` seconds in a daemon thread called ``name``; ``close``
    stops it and waits for it (a job already running finishes first)."""

    def __init__(self, name: str, interval: float, job: Callable[[], None]) -> None:
        self.name, self.interval, self._job = name, interval, job
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            self._job()
