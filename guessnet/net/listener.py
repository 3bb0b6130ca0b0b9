"""A listening port: ``socketserver`` configured for guessnet, with fair admission.

``GameTCPServer`` is a ``ThreadingMixIn`` + ``TCPServer``: the listener thread only accepts,
counts the connection at the port's gate (``guessnet.gate``) and starts its handler thread; it
never waits for anyone.  The handler thread calls ``Admittance.handshake``, which waits for the
client's first bytes (``hello_timeout``), takes a handshake slot and completes the TLS
handshake (``handshake_timeout`` from accept), shedding silent or stalled connections for a
newcomer as the gate decides.  Shedding shuts the victim's socket down; its own thread sees
the end of the stream and leaves.
"""

from __future__ import annotations

import select
import socket
import socketserver
import ssl
import threading
import time
import traceback
from typing import Any

from guessnet.net.conn import HandshakeFailed, complete_handshake
from guessnet.net.gate import Entry, Gate, GateLimits, Phase, address_key
from guessnet.support.logs import escape, log


def _silent(sock: socket.socket) -> bool:
    """Whether the client has left nothing unread: bytes waiting mean the connection is only
    slow to be served (a busy server), not stalled.  The base class's ``recv`` reads the raw
    socket, also under TLS."""
    try:
        return socket.socket.recv(sock, 1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return True
    except OSError:
        return True  # broken: nothing to lose by shedding it


def shut(sock: socket.socket) -> None:
    """Wake the owner of ``sock`` with an end of stream, without closing the descriptor it
    polls (the base class's ``shutdown`` leaves the SSL object alone)."""
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


def _first_bytes(sock: socket.socket, deadline: float) -> bool:
    """Wait until ``sock`` is readable (or ended); False at ``deadline``."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(max(0.0, deadline - time.monotonic()) * 1000))


class Admittance:
    """The gate of one port, shared by its listener and handler threads."""

    def __init__(self, limits: GateLimits) -> None:
        self._gate = Gate(limits)
        self._lock = threading.Lock()
        self._socks: dict[Entry, socket.socket] = {}
        self._granted: dict[Entry, threading.Event] = {}  # waiters for a slot
        self.shed_total = 0

    def arrive(self, sock: socket.socket, host: str) -> Entry | None:
        """Listener thread: count a new connection; None when it must be closed at once
        (its address, or the port, is full of connections that are not silent)."""
        with self._lock:
            entry = self._gate.arrive(address_key(host), time.monotonic())
            self._socks[entry] = sock
            if not self._gate.over_pending(entry):
                return entry
            for victim in self._gate.pending_victims(entry):
                if _silent(self._socks[victim]):
                    self._shed(victim)
                    return entry
            self._leave(entry)
            return None

    def handshake(self, entry: Entry, sock: socket.socket, context: ssl.SSLContext, *,
                  hello_timeout: float, timeout: float) -> ssl.SSLSocket:
        """Handler thread: the TLS handshake of an admitted connection, or
        ``HandshakeFailed`` (the socket is closed then) saying why."""
        deadline = entry.arrived + timeout
        try:
            sock.setblocking(False)
            if not _first_bytes(sock, entry.arrived + hello_timeout):
                raise HandshakeFailed(f"sent nothing within {hello_timeout:g} s")
            self._take_slot(entry, deadline)
            with self._lock:  # a shedder must find the socket that owns the descriptor now
                if entry.shed:
                    raise HandshakeFailed("shed for a newcomer: it sent nothing")
                tls = context.wrap_socket(sock, server_side=True,
                                          do_handshake_on_connect=False)
                self._socks[entry] = tls
        except BaseException:
            self.leave(entry)
            sock.close()
            raise
        try:
            complete_handshake(tls, deadline, lambda waits: self._waiting(entry, waits))
        except HandshakeFailed as exc:
            if entry.shed:
                raise HandshakeFailed("shed for a newcomer: it kept its handshake waiting") \
                    from exc
            raise
        finally:
            self.leave(entry)
        return tls

    def leave(self, entry: Entry) -> None:
        with self._lock:
            self._leave(entry)

    def _leave(self, entry: Entry) -> None:
        self._gate.leave(entry)
        self._socks.pop(entry, None)
        self._grant()

    def _shed(self, victim: Entry) -> None:
        shut(self._socks[victim])
        self._gate.shed(victim)
        self._socks.pop(victim, None)
        self.shed_total += 1
        self._grant()

    def _grant(self) -> None:
        """Give every free slot to its waiter, and wake it."""
        while (entry := self._gate.grant()) is not None:
            granted = self._granted.get(entry)
            if granted is not None:
                granted.set()

    def _waiting(self, entry: Entry, waits: bool) -> None:
        with self._lock:
            self._gate.waiting(entry, time.monotonic() if waits else None)

    @staticmethod
    def _granted_to(entry: Entry) -> bool:
        return entry.phase is Phase.HANDSHAKING

    def _take_slot(self, entry: Entry, deadline: float) -> None:
        """Wait for a slot in turn (``Gate.next_waiter``), shedding stalled handshakes for the
        waiters as the gate names them; ``HandshakeFailed`` at the deadline or if shed."""
        granted = threading.Event()
        with self._lock:
            self._granted[entry] = granted
            self._gate.request_slot(entry)
            self._grant()
        try:
            while not self._granted_to(entry):
                with self._lock:
                    if entry.shed:
                        raise HandshakeFailed("shed for a newcomer: it sent nothing")
                    if self._granted_to(entry):
                        return
                    now = time.monotonic()
                    victim = next((v for v in self._gate.victims(now)
                                   if _silent(self._socks[v])), None)
                    if victim is not None:
                        self._shed(victim)
                        continue
                    if now >= deadline:
                        self._leave(entry)
                        raise HandshakeFailed("no handshake slot came free before the deadline")
                granted.wait(min(deadline - now, self._gate.limits.stall / 2))
        finally:
            with self._lock:
                del self._granted[entry]


class GameTCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """A game port: a thread per connection, reusable address, a large backlog, and the
    ``Admittance`` gate that handlers go through (see the module docstring)."""

    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    request_queue_size = 4096  # the kernel caps it at net.core.somaxconn

    runtime: Any  # server.Runtime, set once every port is bound

    def __init__(self, address: tuple[str, int],
                 handler: type[socketserver.BaseRequestHandler], limits: GateLimits,
                 reuse_port: bool = False) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.allow_reuse_port = reuse_port  # --workers: every worker listens on the port
        self.admittance = Admittance(limits)
        self._arrivals: dict[socket.socket, Entry] = {}
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        entry = self.admittance.arrive(request, client_address[0])
        if entry is None:
            self.shutdown_request(request)  # full of live connections: no thread for it
            return
        self._arrivals[request] = entry
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._arrivals.pop(request, None)
            self.admittance.leave(entry)
            raise

    def shutdown_request(self, request: Any) -> None:
        """socketserver's ``shutdown(SHUT_WR)`` and close, but none for a socket a handler
        wrapped in TLS: ``wrap_socket`` took its descriptor, which the handler closed.  The
        call would still be made (and fail, EBADF), and under load every system call hands
        the interpreter lock over once more, at each of the thousands of departures."""
        if request.fileno() == -1:
            return
        super().shutdown_request(request)

    def arrival(self, request: socket.socket) -> Entry:
        """The gate's entry of ``request`` (once, for its handler)."""
        return self._arrivals.pop(request)

    def handle_error(self, request: object, client_address: object) -> None:
        log("ERROR", f"handler for {client_address} crashed: "
            f"{escape(traceback.format_exc(), 4000)}")
