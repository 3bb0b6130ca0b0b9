"""One TLS connection driven by one thread: the thin socket shell around ``protocol``.

The thread that calls ``run`` is the only one that ever touches the SSL object (OpenSSL objects
must not be shared between threads).  Every other thread talks to the connection through
``send_frame``/``send``/``close``: they append to a bounded outbox and poke an eventfd that the
owner thread polls together with the socket.  So a broadcast never blocks on a slow client: if a
peer stops reading, its outbox fills up and that connection alone is closed ("slow reader").

The owner loop also enforces the deadlines that protect the server: the TLS handshake deadline,
a deadline for each frame once its first byte arrived (a byte-a-second drip is cut off), a
per-connection message rate, and heartbeats: it pings every ``heartbeat`` seconds and closes
a peer that answered nothing for ``heartbeat_misses`` intervals.  Pings from the peer are
answered here; pongs update ``rtt`` and are then passed on like any other message.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import select
import socket
import ssl
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import protocol
from protocol import FrameDecoder, Message, RemoteProtocolError

READ_CHUNK = 65536
WRITE_CHUNK = 65536
ABRUPT = ("dropped", "slow reader")  # close reasons with nothing left to flush
IDLE_WAIT = 60.0  # seconds a connection with no timer due sleeps (any event wakes it)


def _gil_holding_eventfd() -> tuple[Callable[[int], None], Callable[[int], None]]:
    """``eventfd_write(fd, 1)`` and a draining ``eventfd_read`` that keep the GIL.

    ``os.eventfd_write``/``os.eventfd_read`` release the GIL around their (never blocking,
    sub-microsecond) system calls.  A thread queueing a round end for 1,000 members released
    it 1,000 times and, each time, waited for one of the woken connection threads to give it
    back: queueing took 180 ms.  Each woken thread released and retook it once more just to
    drain its eventfd.  libc's functions called through ``ctypes.PyDLL`` (which keeps the
    GIL) on a non-blocking eventfd cannot block, so neither costs a GIL hand-off.
    """
    try:
        libc = ctypes.PyDLL(None, use_errno=True)
        libc_write, libc_read = libc.eventfd_write, libc.eventfd_read
    except (OSError, AttributeError):  # not glibc/musl: the portable, GIL-releasing calls
        def drain(fd: int) -> None:
            try:
                os.eventfd_read(fd)
            except BlockingIOError:
                pass
        return (lambda fd: os.eventfd_write(fd, 1)), drain
    libc_write.argtypes = [ctypes.c_int, ctypes.c_uint64]
    libc_write.restype = ctypes.c_int
    libc_read.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_uint64)]
    libc_read.restype = ctypes.c_int
    counter = ctypes.c_uint64()  # the value read is not used: one buffer for every thread
    counter_ref = ctypes.byref(counter)

    def check(result: int) -> None:
        if result != 0:
            code = ctypes.get_errno()
            # EAGAIN: the counter is full (writing) or already drained (reading); both fine
            if code != errno.EAGAIN:
                raise OSError(code, os.strerror(code))

    return (lambda fd: check(libc_write(fd, 1))), (lambda fd: check(libc_read(fd, counter_ref)))


_wake, _drain = _gil_holding_eventfd()

WAKE_BURST = 64  # fan-outs larger than this wake their members with a long switch interval
_switch_lock = threading.Lock()
_switch_users = 0
_switch_saved = 0.005


def send_to_many(conns: Iterable[Connection], *frames: bytes) -> None:
    """Queue encoded frames on every connection, then wake their threads.

    Two passes on purpose: a thread woken in the first pass would compete for the GIL with
    the broadcaster for the rest of the loop (with 1,000 members, queueing a round end took
    hundreds of milliseconds that way).  Queued first, the frame is in every outbox within a
    few milliseconds, and the wake-ups follow in one quick burst."""
    conns = list(conns)
    for conn in conns:
        with conn._lock:
            for frame in frames:
                conn._enqueue(frame)
    with _unpreempted() if len(conns) > WAKE_BURST else contextlib.nullcontext():
        for conn in conns:
            with conn._lock:
                conn._poke()


@contextlib.contextmanager
def _unpreempted(interval: float = 0.5) -> Iterator[None]:
    """Raise the interpreter's switch interval while a thread wakes many others.

    Each wake-up costs ~15 us in the kernel, so waking 1,000 members takes ~15 ms: longer
    than the default 5 ms switch interval, after which the first woken thread forces the
    waker off the GIL, and the waker then queues behind every thread it woke (measured:
    100-340 ms to wake 1,000, against 15-20 ms with this).  Threads woken meanwhile wait for
    the waker, which gives the GIL up at its next system call; nested and concurrent users
    share one saved value, restored by the last to leave."""
    global _switch_users, _switch_saved
    with _switch_lock:
        if _switch_users == 0:
            _switch_saved = sys.getswitchinterval()
            sys.setswitchinterval(max(interval, _switch_saved))
        _switch_users += 1
    try:
        yield
    finally:
        with _switch_lock:
            _switch_users -= 1
            if _switch_users == 0:
                sys.setswitchinterval(_switch_saved)


class HandshakeFailed(Exception):
    """The TLS handshake did not complete; the message says why (deadline, certificate...)."""


@dataclass(frozen=True)
class Limits:
    handshake_timeout: float = 5.0
    frame_timeout: float = 10.0
    outbox_bytes: int = 512 * 1024
    heartbeat: float | None = 10.0
    heartbeat_misses: int = 3
    rate: float = 50.0
    burst: float = 100.0
    rate_strikes: int = 50


def _wait(sock: socket.socket, for_write: bool, deadline: float) -> None:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise HandshakeFailed("TLS handshake deadline passed")
    poller = select.poll()
    poller.register(sock, select.POLLOUT if for_write else select.POLLIN)
    if not poller.poll(remaining * 1000):
        raise HandshakeFailed("TLS handshake deadline passed")


def tls_handshake(sock: socket.socket, context: ssl.SSLContext, *, server_side: bool,
                  timeout: float, server_hostname: str | None = None) -> ssl.SSLSocket:
    """Wrap ``sock`` and complete the handshake within ``timeout`` seconds (non-blocking)."""
    sock.setblocking(False)
    tls = context.wrap_socket(sock, server_side=server_side, do_handshake_on_connect=False,
                              server_hostname=server_hostname)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                tls.do_handshake()
                return tls
            except ssl.SSLWantReadError:
                _wait(tls, False, deadline)
            except ssl.SSLWantWriteError:
                _wait(tls, True, deadline)
    except ssl.SSLError as exc:
        tls.close()
        raise HandshakeFailed(exc.reason or str(exc)) from exc
    except OSError as exc:
        tls.close()
        raise HandshakeFailed(exc.strerror or str(exc)) from exc
    except HandshakeFailed:
        tls.close()
        raise


class TokenBucket:
    """``rate`` events a second on average, bursts of ``burst``; the clock is handed in."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.stamp = burst, now

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class Connection:
    """A framed TLS connection; see the module docstring for the threading contract."""

    def __init__(self, tls: ssl.SSLSocket, *, accepted: frozenset[str], limits: Limits,
                 peer: str, on_wire: Callable[[str, bytes], None] | None = None) -> None:
        self.tls = tls
        self.peer = peer
        self.limits = limits
        self.rtt: float | None = None
        self.close_reason: str | None = None
        self._decoder = FrameDecoder(accepted)
        self._accepted = accepted
        self._on_wire = on_wire
        self._lock = threading.Lock()
        self._pending: deque[bytes] = deque()
        self._pending_bytes = 0
        self._wake_fd: int | None = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        # True while the owner thread sleeps in poll(); only then does a sender poke it
        self._sleeping = False
        self._poked = False
        self._finished = False
        self._ping_nonce = 0
        self._ping_sent: dict[int, float] = {}

    # ------------------------------------------------------------------ any thread

    def send(self, msg: Message) -> bool:
        return self.send_frame(protocol.encode(msg))

    def send_frame(self, frame: bytes) -> bool:
        """Queue one encoded frame; False if the connection is closing or was overrun."""
        with self._lock:
            queued = self._enqueue(frame)
            self._poke()
        return queued

    def _enqueue(self, frame: bytes) -> bool:
        """Append ``frame`` to the outbox (call with the lock); no wake-up."""
        if self._finished or self.close_reason is not None:
            return False
        if self._pending_bytes + len(frame) > self.limits.outbox_bytes:
            self.close_reason = "slow reader"
            self._pending.clear()
            self._pending_bytes = 0
            return False
        if self._on_wire is not None:
            self._on_wire("SEND", frame[protocol.HEADER.size:])
        self._pending.append(frame)
        self._pending_bytes += len(frame)
        return True

    def close(self, reason: str) -> None:
        """Ask the owner thread to flush what is queued and close; the first reason wins."""
        with self._lock:
            if self.close_reason is None:
                self.close_reason = reason
            self._poke()

    def ping(self) -> None:
        """Send a ping now; its pong will update ``rtt``."""
        with self._lock:
            self._ping_nonce += 1
            nonce = self._ping_nonce
            self._ping_sent[nonce] = time.monotonic()
        self.send(protocol.Ping(nonce=nonce))

    def _poke(self) -> None:
        """Wake the owner thread if it sleeps and nobody woke it yet (call with the lock).

        The owner checks the outbox under the lock before it goes to sleep, so a frame queued
        while it is awake (a reply from its own handler, most of the time) needs no wake-up."""
        if self._sleeping and not self._poked and self._wake_fd is not None:
            self._poked = True
            _wake(self._wake_fd)

    # ------------------------------------------------------------------ owner thread

    def run(self, on_message: Callable[[Message], None],
            on_protocol_error: Callable[[RemoteProtocolError], None],
            on_tick: Callable[[float], float | None] | None = None) -> str:
        """Pump until closed; returns the close reason (``dropped`` for a lost peer)."""
        assert self._wake_fd is not None
        poller = select.poll()
        poller.register(self.tls, select.POLLIN)
        poller.register(self._wake_fd, select.POLLIN)
        out = bytearray()
        now = time.monotonic()
        bucket = TokenBucket(self.limits.rate, self.limits.burst, now)
        strikes = 0
        last_heard = last_ping = now
        # on_tick runs when it asked to (it returns its next time, or None for never)
        next_tick: float | None = now if on_tick is not None else None
        partial_since: float | None = None
        closing_deadline: float | None = None
        reason = "dropped"
        readable = True  # read only when poll() says the socket has something
        try:
            while True:
                with self._lock:
                    # Take queued frames only as the socket drains: what a peer does not read
                    # stays in the bounded outbox, where it counts against the limit.
                    while self._pending and len(out) < WRITE_CHUNK:
                        frame = self._pending.popleft()
                        self._pending_bytes -= len(frame)
                        out += frame
                    requested = self.close_reason
                out_blocked = False if requested in ABRUPT else self._flush(out)
                if requested is not None:
                    now = time.monotonic()
                    closing_deadline = closing_deadline or now + 2.0
                    if requested in ABRUPT or not (out or self._pending) or \
                            now > closing_deadline:
                        reason = requested
                        break
                got = self._read() if readable else b""
                readable = False
                now = time.monotonic()
                if got is None:
                    break
                if got:
                    last_heard = now
                    self._decoder.receive_data(got)
                    while True:
                        try:
                            payload = self._decoder.next_payload()
                            if payload is None:
                                break
                            if self._on_wire is not None:
                                self._on_wire("RECV", payload)
                            msg = protocol.parse_payload(payload, self._accepted)
                        except RemoteProtocolError as exc:
                            on_protocol_error(exc)
                            if exc.fatal:
                                self.close("protocol error")
                                break
                            continue
                        if not bucket.take(now):
                            strikes += 1
                            if strikes >= self.limits.rate_strikes:
                                self.close("flooding")
                                break
                            on_protocol_error(RemoteProtocolError(
                                "rate_limited", "too many messages: slow down"))
                            continue
                        self._dispatch(msg, on_message, now)
                    partial_since = (partial_since or now) if self._decoder.buffered else None
                if partial_since is not None and now - partial_since > self.limits.frame_timeout:
                    self.close("frame deadline")
                hb = self.limits.heartbeat
                if hb is not None and self.close_reason is None:
                    if now - last_heard > hb * self.limits.heartbeat_misses:
                        self.close("timed out")
                    elif now - last_ping >= hb:
                        last_ping = now
                        self.ping()
                if on_tick is not None and next_tick is not None and now >= next_tick:
                    next_tick = on_tick(now)
                closing = self.close_reason is not None
                if closing and not out:
                    continue
                poller.modify(self.tls, select.POLLIN | (select.POLLOUT if out_blocked else 0))
                # Sleep until the next timer is due: an idle connection costs no CPU.
                timers = [t for t in (next_tick, partial_since and
                                      partial_since + self.limits.frame_timeout) if t]
                if hb is not None:
                    timers += [last_ping + hb, last_heard + hb * self.limits.heartbeat_misses]
                wait = 0.1 if closing else min(
                    [max(0.01, t - now + 0.005) for t in timers], default=IDLE_WAIT)
                with self._lock:
                    if (self._pending and not out_blocked) or \
                            (self.close_reason is not None) != closing:
                        continue  # queued or closed while we were busy: act before sleeping
                    self._sleeping = True
                events = poller.poll(wait * 1000)
                with self._lock:
                    self._sleeping = self._poked = False
                for fd, event in events:
                    if fd == self._wake_fd:
                        _drain(fd)
                    elif event & ~select.POLLOUT:
                        readable = True
        finally:
            with self._lock:
                self._finished = True
                if self.close_reason is None:
                    self.close_reason = reason
                os.close(self._wake_fd)
                self._wake_fd = None
            self._shutdown(polite=reason not in ABRUPT)
        return self.close_reason

    def _dispatch(self, msg: Message, on_message: Callable[[Message], None], now: float) -> None:
        if isinstance(msg, protocol.Ping):
            self.send(protocol.Pong(nonce=msg.nonce))
            return
        if isinstance(msg, protocol.Pong):
            with self._lock:
                sent = self._ping_sent.pop(msg.nonce, None)
                self._ping_sent = {n: t for n, t in self._ping_sent.items() if now - t < 120}
            if sent is not None:
                self.rtt = now - sent
        on_message(msg)

    def _flush(self, out: bytearray) -> bool:
        """Write what the socket takes now; True when it would block with data left."""
        while out:
            chunk = bytes(out[:WRITE_CHUNK])
            try:
                sent = self.tls.send(chunk)
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                return True
            except OSError:
                out.clear()
                self.close("dropped")
                return False
            del out[:sent]
        return False

    def _read(self) -> bytes | None:
        """One read: the bytes available now (b"" if none); None at end of stream or on a
        broken socket.

        One ``recv`` per wake-up: a TLS record holds at most 16 KiB, so a 64 KiB read leaves
        no decrypted bytes inside OpenSSL, and records still in the kernel keep the socket
        readable for the next poll().  (``SSLSocket.pending()`` would release and retake the
        GIL once more per request.)"""
        try:
            data = self.tls.recv(READ_CHUNK)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return b""
        except (ssl.SSLError, OSError):
            return None
        return data or None

    def _shutdown(self, polite: bool) -> None:
        """Close the socket; ``polite`` exchanges TLS close_notify first (briefly), so the
        peer reads our last frames instead of a reset."""
        try:
            if polite:
                self.tls.setblocking(True)
                self.tls.settimeout(0.3)
                self.tls.unwrap()
        except (OSError, ValueError):
            pass
        try:
            self.tls.close()
        except OSError as exc:
            if exc.errno != errno.EBADF:
                raise
