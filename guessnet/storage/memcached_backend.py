"""memcached counters (python-memcached): correct answers per session, user and room.

Values are decimal strings kept with ``incr``: nothing is ever pickled.  python-memcached would
unpickle a value stored with its pickle flag, so the client is built with a pickler and an
unpickler that refuse: a value planted by someone else reads as missing, it never runs code.

If memcached is down the game goes on: ``incr`` gives up quietly, ``available`` turns False and
``incomplete`` stays True from then on, so the admin's ``stats`` can say the counts are partial.
"""

from __future__ import annotations

import queue
import socket
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import IO, Any

import memcache

from guessnet.storage.base import BackendError, Counters

PREFIX = "guessnet:"
SOCKET_TIMEOUT = 0.5
DEAD_RETRY = 1  # seconds before a down server is tried again
ANSWER_TIMEOUT = 2.0
QUEUE_LIMIT = 10_000  # increments waiting for the worker; beyond, counts are incomplete


class RefusingUnpickler:
    """Stands in for pickle.Unpickler: refuses every pickled value."""

    def __init__(self, file: IO[bytes], *args: Any, **kwargs: Any) -> None:
        self.persistent_load = None

    def load(self) -> Any:
        raise ValueError("refusing to unpickle a memcached value")


class RefusingPickler:
    """Stands in for pickle.Pickler: we only ever store strings."""

    def __init__(self, file: IO[bytes], *args: Any, **kwargs: Any) -> None:
        self.persistent_id = None

    def dump(self, value: Any) -> None:
        raise TypeError(f"refusing to pickle {type(value).__name__}: store strings only")


class _ClosingHost(memcache._Host):  # type: ignore[misc]
    """python-memcached's host, except that a failed connect closes its socket (the library
    leaks it) and a cut reply marks the host dead instead of leaving a half-read socket."""

    socket: Any

    def _get_socket(self) -> Any:
        if self._check_dead():
            return None
        if self.socket:
            return self.socket
        sock = socket.socket(self.family, socket.SOCK_STREAM)
        sock.settimeout(self.socket_timeout)
        try:
            sock.connect(self.address)
        except OSError as exc:
            sock.close()
            self.mark_dead(f"connect: {exc}")
            return None
        self.socket = sock
        self.buffer = b""
        return sock


def _key(key: str) -> str:
    """memcached keys: no spaces or control characters, at most 250 bytes."""
    safe = "".join(ch if 32 < ord(ch) < 127 else "_" for ch in PREFIX + key)
    return safe[:250]


class MemcachedCounters(Counters):
    """Counters in memcached, driven by one worker thread.

    python-memcached's ``Client`` keeps its sockets per thread (it is a ``threading.local``), so
    calling it from every handler thread would open one socket per player.  Instead one worker
    thread owns the client: ``incr`` only queues (a guess never waits on memcached), ``get``
    waits for its answer with a deadline.
    """

    def __init__(self, address: str) -> None:
        self.address = address
        self.available = True
        self.incomplete = False
        self._jobs: queue.Queue[tuple[Callable[[Any], Any], Future[Any] | None]] = \
            queue.Queue(maxsize=QUEUE_LIMIT)
        self._thread = threading.Thread(target=self._work, name="memcached", daemon=True)
        self._thread.start()
        if not self._run(lambda client: client.set(_key("probe"), "1")):
            self.close()
            raise BackendError(f"memcached at {address} does not answer")

    def _work(self) -> None:
        client = memcache.Client([self.address], socket_timeout=SOCKET_TIMEOUT,
                                 dead_retry=DEAD_RETRY, pickler=RefusingPickler,
                                 unpickler=RefusingUnpickler)
        for host in client.servers:
            host.__class__ = _ClosingHost
        while True:
            job, answer = self._jobs.get()
            if answer is not None and answer.done():
                continue  # cancelled (close)
            try:
                result = job(client)
            except (ValueError, OSError) as exc:
                # a reply cut half-way: python-memcached raises instead of reporting
                for host in client.servers:
                    host.mark_dead(f"reply cut: {exc}")
                result = None
            except _Stop:
                client.disconnect_all()
                if answer is not None:
                    answer.set_result(None)
                return
            if answer is not None:
                answer.set_result(result)

    def _run(self, job: Callable[[Any], Any]) -> Any:
        """Run ``job(client)`` on the worker and return its result (None after a deadline)."""
        answer: Future[Any] = Future()
        try:
            self._jobs.put((job, answer), timeout=ANSWER_TIMEOUT)
            return answer.result(timeout=ANSWER_TIMEOUT)
        except (queue.Full, TimeoutError):
            return None

    def _mark(self, ok: bool) -> None:
        self.available = ok
        if not ok:
            self.incomplete = True

    def incr(self, key: str, by: int = 1) -> None:
        self._count([(_key(key), by)])

    def incr_each(self, keys: Iterable[str]) -> None:
        """One job for all of them: each job queued wakes the worker thread."""
        self._count([(_key(key), 1) for key in keys])

    def _count(self, steps: list[tuple[str, int]]) -> None:
        def count(client: Any) -> None:
            for full, by in steps:
                if client.incr(full, by) is None and not client.add(full, str(by)) and \
                        client.incr(full, by) is None:
                    self._mark(False)  # neither counted nor created: the server is away
                    return
            self._mark(True)

        try:
            self._jobs.put_nowait((count, None))
        except queue.Full:
            self._mark(False)

    def get(self, key: str) -> int | None:
        def read(client: Any) -> tuple[bool, Any]:
            raw = client.get(_key(key))
            return (raw is not None or bool(client.set(_key("probe"), "1"))), raw

        answer = self._run(read)
        if answer is None or not answer[0]:
            self._mark(False)
            return None
        self._mark(True)
        try:
            return int(answer[1]) if answer[1] is not None else 0
        except (TypeError, ValueError):
            return 0

    def retry_now(self) -> None:
        """Forget that the server was down: the next operation tries it at once."""
        self._run(lambda client: client.forget_dead_hosts())

    def close(self) -> None:
        def stop(client: Any) -> None:
            raise _Stop

        self._run(stop)
        self._thread.join(timeout=ANSWER_TIMEOUT)


class _Stop(Exception):
    """Ends the worker thread (raised by the job ``close`` queues)."""
