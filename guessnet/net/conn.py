"""One TLS connection driven by one thread: the thin socket shell around ``protocol``.

The thread that calls ``run`` owns the SSL object (OpenSSL objects must never be used by two
threads at once).  Every other thread talks to the connection through
``send_frame``/``send``/``close``, which go to its ``Outbox`` (bounded; a peer that stops
reading is closed alone, as a "slow reader").  While the owner sleeps in ``poll()`` with nothing
left to write, the sender writes the queued frames itself through the writer the owner lent the
outbox, under the outbox's lock, which the owner takes before it touches the socket again;
otherwise the sender wakes the owner.

What the loop decides (deadlines, heartbeats, the message rate) is ``guessnet.pacing``'s: this
module only waits, reads and writes.  Pings from the peer are answered here; pongs update
``rtt`` and are then passed on like any other message.
"""

from __future__ import annotations

import errno
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable

from guessnet import wire
from guessnet.net.outbox import Outbox
from guessnet.net.pacing import NOTHING_DUE, Admission, Limits, Pacing
from guessnet.net.wakeup import PortableWakeup, Wakeup
from guessnet.wire import FrameDecoder, Message, RemoteProtocolError
from guessnet.wire.closing import Close

READ_CHUNK = 65536
WRITE_CHUNK = 65536
CLOSE_FLUSH = 2.0  # seconds a closing connection may spend flushing what is queued


class HandshakeFailed(Exception):
    """The TLS handshake did not complete; the message says why (deadline, certificate...)."""


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
    complete_handshake(tls, time.monotonic() + timeout)
    return tls


def complete_handshake(tls: ssl.SSLSocket, deadline: float,
                       waiting: Callable[[bool], None] | None = None) -> None:
    """Drive the handshake of a non-blocking ``tls`` until it completes, or raise
    ``HandshakeFailed`` (the socket closed) at ``deadline`` or on any failure.

    ``waiting(True)`` is called before each wait for the peer, ``waiting(False)`` after it:
    how the admission gate tells a stalled client from a slow server."""
    try:
        while True:
            try:
                tls.do_handshake()
                return
            except ssl.SSLWantReadError:
                for_write = False
            except ssl.SSLWantWriteError:
                for_write = True
            if waiting is None:
                _wait(tls, for_write, deadline)
                continue
            waiting(True)
            try:
                _wait(tls, for_write, deadline)
            finally:
                waiting(False)
    except ssl.SSLError as exc:
        tls.close()
        raise HandshakeFailed(exc.reason or str(exc)) from exc
    except OSError as exc:
        tls.close()
        raise HandshakeFailed(exc.strerror or str(exc)) from exc
    except HandshakeFailed:
        tls.close()
        raise


class Connection:
    """A framed TLS connection; see the module docstring for the threading contract.

    Any thread may call ``send``, ``send_all``, ``send_frame``, ``close`` and ``ping`` and
    read ``rtt`` and ``close_reason``; exactly one thread calls ``run``."""

    def __init__(self, tls: ssl.SSLSocket, *, accepted: frozenset[str], limits: Limits,
                 peer: str, on_wire: Callable[[str, bytes], None] | None = None,
                 wakeup: Wakeup | None = None) -> None:
        self.tls = tls
        self.peer = peer
        self.limits = limits
        self.wakeup = wakeup or PortableWakeup()
        self.rtt: float | None = None
        self.read_error: OSError | None = None  # why the last read failed, for diagnosis
        self._decoder = FrameDecoder(accepted)
        self._on_wire = on_wire
        self.outbox = Outbox(limits.outbox_bytes, self.wakeup, None if on_wire is None else
                             lambda frame: on_wire("SEND", frame[wire.HEADER.size:]))
        self._ping_lock = threading.Lock()
        self._ping_nonce = 0
        self._ping_sent: dict[int, float] = {}
        self._paused_until = 0.0  # owner thread: nothing is read before then

    # ------------------------------------------------------------------ any thread

    @property
    def close_reason(self) -> Close | None:
        return self.outbox.close_reason

    def send(self, msg: Message) -> bool:
        return self.outbox.put(wire.encode(msg))

    def send_all(self, msgs: list[Message]) -> bool:
        """Queue several messages in one step, in order."""
        return self.outbox.put_all([wire.encode(msg) for msg in msgs])

    def send_frame(self, frame: bytes) -> bool:
        """Queue one encoded frame; False if the connection is closing or was overrun."""
        return self.outbox.put(frame)

    def close(self, reason: Close) -> None:
        """Ask the owner thread to flush what is queued and close; the first reason wins."""
        self.outbox.request_close(reason)

    def pause_reading(self, seconds: float) -> None:
        """Owner thread: read nothing more from the peer for ``seconds`` (a tarpit for a
        client that must wait: what it sends meanwhile stays in the kernel, costing no CPU;
        what is queued for it is still written)."""
        self._paused_until = time.monotonic() + seconds

    def ping(self) -> None:
        """Send a ping now; its pong will update ``rtt``."""
        with self._ping_lock:
            self._ping_nonce += 1
            nonce = self._ping_nonce
            self._ping_sent[nonce] = time.monotonic()
        self.send(wire.Ping(nonce=nonce))

    # ------------------------------------------------------------------ owner thread

    def run(self, on_message: Callable[[Message], None],
            on_protocol_error: Callable[[RemoteProtocolError], None],
            on_tick: Callable[[float], float | None] | None = None) -> Close:
        """Pump until closed; returns the close reason (``dropped`` for a lost peer).

        ``on_tick(now)`` runs when it asked to: it returns the next time, or None for never."""
        # locals: the loop runs once a request and reads these every time
        outbox, decoder, monotonic = self.outbox, self._decoder, time.monotonic
        received = decoder.buffer  # (bytes of a frame not yet complete, between passes)
        wake_fd, not_only_out = outbox.wake_fd, ~select.POLLOUT
        hung_up = select.POLLHUP | select.POLLERR
        poller = select.poll()
        poller.register(self.tls, select.POLLIN)
        poller.register(wake_fd, select.POLLIN)
        out = bytearray()
        pacing = Pacing(self.limits, time.monotonic(), ticking=on_tick is not None)
        closing_deadline: float | None = None
        reason = Close.DROPPED
        readable = True  # read only when poll() says the socket has something
        watching_out = False  # POLLOUT is registered (a write would block)
        watching_in = True  # POLLIN is registered (reading is not paused)
        # lent while it sleeps: the socket's own ``send``, no wrapper of ours (a room's fan-out
        # calls it once a member; the outbox takes SSLWantWriteError as "would block")
        outbox.lend_writer(self.tls.send)
        try:
            while True:
                # One pass per wake-up: read and handle, then write what that queued (the
                # replies) in the same pass, then sleep.
                now = monotonic()
                paused = now < self._paused_until
                if readable and not paused:
                    readable = False
                    got = self._read()
                    if got is None:
                        break
                    if got:
                        decoder.receive_data(got)
                    if got or received:  # also frames left by a pause
                        self._handle_frames(pacing, now, on_message, on_protocol_error)
                        pacing.heard(now, len(received) > 0)
                        paused = now < self._paused_until
                due = pacing.due(now)
                if due is not NOTHING_DUE:
                    if due.close is not None:
                        self.close(due.close)
                    elif due.ping and outbox.close_reason is None:
                        self.ping()
                    if due.tick and on_tick is not None:
                        pacing.ticked(on_tick(now))
                requested = outbox.take(out, WRITE_CHUNK)
                out_blocked = False  # (nothing to write: a pass that queued no reply)
                if out and not (requested and requested.abrupt):
                    out_blocked = self._flush(out)
                if requested is not None:
                    closing_deadline = closing_deadline or now + CLOSE_FLUSH
                    if requested.abrupt or not (out or outbox.queued()) or \
                            now > closing_deadline:
                        reason = requested
                        break
                closing = requested is not None
                if closing and not out:
                    continue
                if out_blocked != watching_out or paused == watching_in:
                    watching_out, watching_in = out_blocked, not paused
                    poller.modify(self.tls, (0 if paused else select.POLLIN) |
                                  (select.POLLOUT if out_blocked else 0))
                if not outbox.may_sleep(closing, out_blocked):
                    continue  # queued or closed while we were busy: act before sleeping
                wait = pacing.wait(now, closing)
                if paused:
                    wait = min(wait, self._paused_until - now)
                    readable = True  # look again once the pause is over
                events = poller.poll(wait * 1000)
                poked = False
                for fd, event in events:
                    if fd == wake_fd:
                        poked = True
                    elif event & not_only_out:
                        readable = True
                        if event & hung_up:
                            self._paused_until = 0.0  # gone: read the end now
                outbox.woke(poked)
        finally:
            reason = self.outbox.finish(reason)
            self._shutdown(polite=not reason.abrupt)
        return reason

    def _handle_frames(self, pacing: Pacing, now: float,
                       on_message: Callable[[Message], None],
                       on_protocol_error: Callable[[RemoteProtocolError], None]) -> None:
        """Decode and hand on every complete frame received, within the message rate.  Pings
        are answered here; a pong updates ``rtt`` and is handed on like any message."""
        decoder = self._decoder
        received, next_payload, parse = decoder.buffer, decoder.next_payload, decoder.parse
        while received and now >= self._paused_until:  # (empty: every frame handed on)
            try:
                payload = next_payload()
                if payload is None:
                    return
                if self._on_wire is not None:
                    self._on_wire("RECV", payload)
                msg = parse(payload)
            except RemoteProtocolError as exc:
                on_protocol_error(exc)
                if exc.fatal:
                    self.close(Close.PROTOCOL_ERROR)
                    return
                continue
            admission = pacing.admit(now)
            if admission is not Admission.ACCEPT:
                if admission is Admission.CUT:
                    self.close(Close.FLOODING)
                    return
                on_protocol_error(RemoteProtocolError(admission.value,
                                                      "too many messages: slow down"))
                continue
            if type(msg) is wire.Ping:
                self.send(wire.Pong(nonce=msg.nonce))
                continue
            if type(msg) is wire.Pong:
                self._ponged(msg.nonce, now)
            on_message(msg)

    def _ponged(self, nonce: int, now: float) -> None:
        with self._ping_lock:
            sent = self._ping_sent.pop(nonce, None)
            self._ping_sent = {n: t for n, t in self._ping_sent.items() if now - t < 120}
        if sent is not None:
            self.rtt = now - sent

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
                self.close(Close.DROPPED)
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
        except (ssl.SSLError, OSError) as exc:
            self.read_error = exc
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
