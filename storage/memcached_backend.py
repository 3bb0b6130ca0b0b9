"""memcached counters (python-memcached): correct answers per session, user and room.

Values are decimal strings kept with ``incr``: nothing is ever pickled.  python-memcached would
unpickle a value stored with its pickle flag, so the client is built with a pickler and an
unpickler that refuse: a value planted by someone else reads as missing, it never runs code.

If memcached is down the game goes on: ``incr`` gives up quietly, ``available`` turns False and
``incomplete`` stays True from then on, so the admin's ``stats`` can say the counts are partial.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import IO, Any

import memcache

from storage.base import BackendError, Counters

PREFIX = "guessnet:"
SOCKET_TIMEOUT = 0.5
DEAD_RETRY = 1  # seconds before a down server is tried again


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
    def __init__(self, address: str) -> None:
        self.address = address
        self._client = memcache.Client([address], socket_timeout=SOCKET_TIMEOUT,
                                       dead_retry=DEAD_RETRY, pickler=RefusingPickler,
                                       unpickler=RefusingUnpickler)
        for host in self._client.servers:
            host.__class__ = _ClosingHost
        self._lock = threading.Lock()
        self.available = True
        self.incomplete = False
        if not self._call(lambda: self._client.set(_key("probe"), "1")):
            self._client.disconnect_all()
            raise BackendError(f"memcached at {address} does not answer")

    def _call(self, action: Callable[[], Any]) -> Any:
        """python-memcached reports a lost server as None/0, or (on a half-read reply) as a
        ValueError; both mean "unavailable now"; this is the one place that knows."""
        try:
            return action()
        except (ValueError, OSError) as exc:
            for host in self._client.servers:
                host.mark_dead(f"reply cut: {exc}")
            return None

    def _mark(self, ok: bool) -> None:
        self.available = ok
        if not ok:
            self.incomplete = True

    def incr(self, key: str, by: int = 1) -> None:
        full = _key(key)
        with self._lock:
            if self._call(lambda: self._client.incr(full, by)) is None and \
                    not self._call(lambda: self._client.add(full, str(by))) and \
                    self._call(lambda: self._client.incr(full, by)) is None:
                self._mark(False)  # neither counted nor created: the server is away
                return
            self._mark(True)

    def get(self, key: str) -> int | None:
        with self._lock:
            raw = self._call(lambda: self._client.get(_key(key)))
            if raw is None and not self._call(lambda: self._client.set(_key("probe"), "1")):
                self._mark(False)
                return None
        self._mark(True)
        if raw is None:
            return 0
        try:
            return int(raw)
        except (TypeError, ValueError):
            return 0

    def close(self) -> None:
        self._client.disconnect_all()
