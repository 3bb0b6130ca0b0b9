"""The web port's open connections, by address and phase, and a request head read within bounds.

A connection is *reading* (its TLS handshake and request head) from accept until its head is
complete, then *answering*, or *streaming* (an event stream, counted apart).  Past a bound, a
newcomer sheds the oldest reading connection of its own address (past the address's share),
or of the address holding the most connections (past the total), unless its own address holds
as many: the addresses' shares converge, and a crowd cannot keep a lone client out.  Browsers
send their requests in milliseconds, so what is shed is the slow (see ``guessnet.web``).
``read_head`` holds a client to one deadline and one byte budget for its whole request head,
however it spreads its bytes.
"""

from __future__ import annotations

import enum
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass

from guessnet.net.listener import shut

MAX_CONNECTIONS = 512
MAX_PER_ADDRESS = 64
MAX_STREAMS = 256
MAX_STREAMS_PER_ADDRESS = 32


class HeadTooLarge(Exception):
    """The request line and headers together exceed the byte budget."""


class WebPhase(enum.Enum):
    READING = "reading"
    ANSWERING = "answering"
    STREAMING = "streaming"
    GONE = "gone"


@dataclass(eq=False)
class WebEntry:
    key: str
    sock: socket.socket
    arrived: float
    phase: WebPhase = WebPhase.READING


class WebConnections:
    """Callers: the listener thread ``arrive``s; the connection's thread ``rebind``s (after
    TLS), says when it is ``answering``, asks to ``stream`` and ``leave``s."""

    def __init__(self, total: int = MAX_CONNECTIONS, per_address: int = MAX_PER_ADDRESS,
                 streams: int = MAX_STREAMS, streams_per_address: int = MAX_STREAMS_PER_ADDRESS
                 ) -> None:
        self.total, self.per_address = total, per_address
        self.streams, self.streams_per_address = streams, streams_per_address
        self._lock = threading.Lock()
        self._entries: dict[WebEntry, None] = {}  # in order of arrival
        self._open: Counter[str] = Counter()      # reading or answering, by address
        self._reading: dict[str, dict[WebEntry, None]] = {}  # by address, oldest first
        self._streaming: Counter[str] = Counter()
        self.open_total = 0
        self.streams_total = 0
        self.shed_total = 0

    def arrive(self, key: str, sock: socket.socket, now: float) -> WebEntry | None:
        """Count a new connection; None when it must be closed at once (see the module
        docstring)."""
        with self._lock:
            entry = WebEntry(key, sock, now)
            self._entries[entry] = None
            self._reading.setdefault(key, {})[entry] = None
            self._open[key] += 1
            self.open_total += 1
            if self._open[key] > self.per_address:
                victim_key: str | None = key  # the address sheds its own
            elif self.open_total > self.total:
                victim_key = self._heaviest(key)
            else:
                return entry
            victim = None if victim_key is None else \
                next((e for e in self._reading[victim_key] if e is not entry), None)
            if victim is None:
                self._drop(entry)
                return None
            shut(victim.sock)
            self._drop(victim)
            self.shed_total += 1
            return entry

    def _heaviest(self, key: str) -> str | None:
        """The address to shed a reading connection of for a newcomer from ``key``: the one
        with the most open connections, if it has more than ``key`` (else ``key`` itself, if it
        has another reading connection)."""
        heaviest = max((k for k, reading in self._reading.items() if reading),
                       key=lambda k: (self._open[k], k == key), default=None)
        if heaviest is None or (heaviest != key and self._open[heaviest] <= self._open[key]):
            return key
        return heaviest

    def rebind(self, entry: WebEntry, sock: socket.socket) -> None:
        """The connection is now ``sock`` (TLS wrapped): what a shedder must shut."""
        with self._lock:
            entry.sock = sock

    def answering(self, entry: WebEntry) -> None:
        with self._lock:
            if entry.phase is WebPhase.READING:
                self._unread(entry)
                entry.phase = WebPhase.ANSWERING

    def stream(self, entry: WebEntry) -> bool:
        """Count ``entry`` as an event stream instead of an open request; False when the
        streams' bounds are reached (it stays an answering request)."""
        with self._lock:
            if entry.phase is WebPhase.GONE:
                return False
            if self.streams_total >= self.streams or \
                    self._streaming[entry.key] >= self.streams_per_address:
                return False
            self._uncount(entry)
            entry.phase = WebPhase.STREAMING
            self._streaming[entry.key] += 1
            self.streams_total += 1
            return True

    def leave(self, entry: WebEntry) -> None:
        with self._lock:
            self._drop(entry)

    def _drop(self, entry: WebEntry) -> None:
        if entry.phase is WebPhase.GONE:
            return
        if entry.phase is WebPhase.READING:
            self._unread(entry)
        self._uncount(entry)
        entry.phase = WebPhase.GONE
        del self._entries[entry]

    def _unread(self, entry: WebEntry) -> None:
        reading = self._reading[entry.key]
        del reading[entry]
        if not reading:
            del self._reading[entry.key]

    def _uncount(self, entry: WebEntry) -> None:
        streaming = entry.phase is WebPhase.STREAMING
        counts = self._streaming if streaming else self._open
        counts[entry.key] -= 1
        if counts[entry.key] <= 0:
            del counts[entry.key]
        if streaming:
            self.streams_total -= 1
        else:
            self.open_total -= 1


def read_head(sock: socket.socket, deadline: float, budget: int) -> bytes:
    """The request line and headers (through the blank line), read by ``deadline``
    (``TimeoutError``) within ``budget`` bytes (``HeadTooLarge``); ``EOFError`` if the client
    closed first.  A first line that names no HTTP version, or a first byte that begins no
    method (a guessnet frame sent to the wrong port), ends the head at once (an HTTP/0.9 request
    or garbage: it is answered ``400``, not waited for)."""
    head = bytearray()
    while True:
        if head[:1] and not head[:1].isalpha():
            return bytes(head)
        end = head.find(b"\r\n\r\n")
        if end >= 0:
            return bytes(head[:end + 4])
        end = head.find(b"\n\n")
        if end >= 0:
            return bytes(head[:end + 2])
        line_end = head.find(b"\n")
        if line_end >= 0 and len(head[:line_end].split()) != 3:
            return bytes(head[:line_end + 1])
        if len(head) > budget:
            raise HeadTooLarge(f"over {budget} bytes")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("request deadline passed")
        sock.settimeout(remaining)
        chunk = sock.recv(min(4096, budget + 1 - len(head)))
        if not chunk:
            raise EOFError("the client closed before its request was complete")
        head += chunk


def linger(sock: socket.socket, until: float, most: int = 256 * 1024) -> None:
    """Read and drop what the client still sends (at most ``most`` bytes, until ``until``)
    before the socket is closed: closed with unread bytes, it would be reset, and the client
    might lose the answer it was sent (as nginx's ``lingering_close``)."""
    dropped = 0
    try:
        while dropped < most and (remaining := until - time.monotonic()) > 0:
            sock.settimeout(remaining)
            chunk = sock.recv(65536)
            if not chunk:
                return
            dropped += len(chunk)
    except (OSError, ValueError):
        return
