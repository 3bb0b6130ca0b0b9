"""A service's background thread: one job every few seconds, from ``start`` until ``close``."""

from __future__ import annotations

import threading
from collections.abc import Callable

from guessnet.support.logs import escape, log


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
        """A job that fails is logged and run again on the next beat: a clean-up that met
        something it cannot handle must not stop cleaning for good."""
        while not self._stopped.wait(self.interval):
            try:
                self._job()
            except Exception as exc:
                log("ERROR", f"{self.name}: {type(exc).__name__}: {escape(exc)}; "
                    f"trying again in {self.interval:g} s")
