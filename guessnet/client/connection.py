"""What pclient and aclient share: connecting with clear errors, a network thread, line input.

The network thread owns the TLS connection (``conn.Connection.run``) and hands each message to a
callback that prints it at once, above the line being typed when standard input is a terminal
(prompt_toolkit's ``patch_stdout``).  The input side sends a request and waits, with a deadline,
for the message that answers it, so piped scripts see every answer before their next line.
"""

from __future__ import annotations

import os
import queue
import random
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from guessnet import wire
from guessnet.net.conn import Connection, HandshakeFailed, tls_handshake
from guessnet.net.pacing import Limits
from guessnet.wire.redaction import redact
from guessnet.wire.text import escape

CONNECT_TIMEOUT = 5.0
REPLY_TIMEOUT = 15.0
# The server is trusted not to flood us, and its frames must never be dropped: no rate limit.
# Clients ping too, so a server that vanished without a word is noticed within 3 intervals.
CLIENT_LIMITS = Limits(heartbeat=10.0, rate=1e9, burst=1e9, outbox_bytes=4 * 1024 * 1024)


HOSTNAME_MISMATCH, IP_MISMATCH = 62, 64  # OpenSSL's X509_V_ERR_HOSTNAME/IP_ADDRESS_MISMATCH


class ClientError(Exception):
    """An expected failure the user can fix (server down, bad certificate); printed, exit 1."""


def connect(host: str, port: int, context: ssl.SSLContext, accepted: frozenset[str],
            cafile: Path, on_wire: Callable[[str, bytes], None] | None = None,
            limits: Limits | None = None) -> Connection:
    """Open a verified TLS connection or raise ``ClientError`` saying what went wrong."""
    where = f"{host}:{port}"
    try:
        sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
    except ConnectionRefusedError:
        raise ClientError(f"cannot connect to {where} (connection refused) - "
                          "is server.py running?") from None
    except socket.gaierror as exc:
        raise ClientError(f"cannot connect to {where}: unknown host ({exc.strerror})") from None
    except TimeoutError:
        raise ClientError(f"cannot connect to {where} (timed out) - is the address right "
                          "and the port open?") from None
    except OSError as exc:
        raise ClientError(f"cannot connect to {where} ({exc.strerror or exc})") from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        tls = tls_handshake(sock, context, server_side=False, timeout=CONNECT_TIMEOUT,
                            server_hostname=host)
    except HandshakeFailed as exc:
        sock.close()
        cause = exc.__cause__
        if isinstance(cause, ssl.SSLCertVerificationError) and \
                cause.verify_code in (HOSTNAME_MISMATCH, IP_MISMATCH):
            raise ClientError(
                f"the server at {where} has a certificate from the right CA, but it does not "
                f"name {host!r} ({cause.verify_message}). Connect with a name it carries (the "
                "server prints them when it starts), or ask the host to add this one: "
                f"server.py --cert-name {host}") from None
        if isinstance(cause, ssl.SSLCertVerificationError):
            raise ClientError(
                f"the server at {where} presented a certificate that does not verify against "
                f"{cafile} ({cause.verify_message}); connection refused. Use --cafile with the "
                "ca.pem of the server you mean to reach.") from None
        raise ClientError(f"TLS with {where} failed: {exc}") from None
    return Connection(tls, accepted=accepted, limits=limits or CLIENT_LIMITS,
                      peer=where, on_wire=on_wire)


class NetThread:
    """Runs a connection in a daemon thread; lets the caller wait for the answer to a request."""

    def __init__(self, conn: Connection, show: Callable[[wire.Message], None],
                 on_closed: Callable[[NetThread], None] | None = None) -> None:
        self.conn = conn
        self._show = show
        self._on_closed = on_closed
        self._lock = threading.Lock()
        self._expect: Callable[[wire.Message], bool] | None = None
        self._answer: wire.Message | None = None
        self._answered = threading.Event()
        self.closed = threading.Event()
        self.close_reason: str | None = None
        self._thread = threading.Thread(target=self._run, name="net", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            self.close_reason = self.conn.run(self._on_message, self._on_error)
        finally:
            self.closed.set()
            self._answered.set()
            if self._on_closed is not None:
                self._on_closed(self)

    def _on_error(self, exc: wire.RemoteProtocolError) -> None:
        self._on_message(wire.Error(code=exc.code, message=f"bad data from server: {exc}"))

    def _on_message(self, msg: wire.Message) -> None:
        self._show(msg)
        with self._lock:
            if self._expect is not None and self._expect(msg):
                self._expect = None
                self._answer = msg
                self._answered.set()

    def request(self, msg: wire.Message, is_answer: Callable[[wire.Message], bool],
                timeout: float = REPLY_TIMEOUT) -> wire.Message | None:
        """Send ``msg`` and wait for the first message ``is_answer`` accepts (None: none came);
        ``InputRefused`` if ``msg`` is not fit to send (nothing is sent then)."""
        check_outgoing(msg)
        with self._lock:
            self._expect = is_answer
            self._answer = None
            self._answered.clear()
        if not self.conn.send(msg):
            return None
        self._answered.wait(timeout)
        with self._lock:
            self._expect = None
            return self._answer

    def stop(self, timeout: float = 3.0) -> None:
        self.conn.close("quit")
        self._thread.join(timeout)

    def hang_up(self) -> None:
        """Say ``quit`` (waiting briefly for the goodbye) if still connected, then stop."""
        if not self.closed.is_set():
            self.request(wire.Quit(), answers(), timeout=3)
        self.stop()


class InputRefused(Exception):
    """A line the client will not send; the message says why, in one line."""


def check_outgoing(msg: wire.Message) -> None:
    """Raise ``InputRefused`` when the server would refuse ``msg`` for its form (a field too
    long, a number out of range, a lone surrogate) or it would not fit in one frame."""
    try:
        wire.from_dict(msg.to_dict())
        wire.encode(msg)
    except wire.RemoteProtocolError as exc:
        raise InputRefused(f"Not sent: {exc}. Shorten or correct it.") from None
    except wire.LocalProtocolError:
        size = len(wire.payload_of(msg))
        raise InputRefused(f"Not sent: that is {size} bytes, more than one message carries "
                           f"({wire.MAX_PAYLOAD}). Shorten it.") from None


def small_int(text: str, digits: int = 15) -> int | None:
    """``text`` as a whole number if it is ASCII digits (one optional sign) of at most
    ``digits`` digits, else None (no 5,000-digit conversions, no Arabic-Indic digits)."""
    body = text[1:] if text[:1] in ("+", "-") else text
    if not (body.isascii() and body.isdigit()) or len(body) > digits:
        return None
    return int(text)


def answers(*types: type[wire.Message]) -> Callable[[wire.Message], bool]:
    """An ``is_answer`` for ``request``: any of ``types``, or an error or goodbye."""
    wanted = (*types, wire.Error, wire.Bye)

    def is_answer(msg: wire.Message) -> bool:
        if isinstance(msg, wire.Table) and not msg.last:
            return False
        return isinstance(msg, wanted)

    return is_answer


class LineInput:
    """Lines from the user: prompt_toolkit on a terminal, plain lines from a pipe.

    ``read`` returns None at end of input, or when ``interrupt`` was called (connection lost).
    """

    def __init__(self, history_file: Path | None = None) -> None:
        self.interactive = sys.stdin.isatty() and sys.stdout.isatty()
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._session: Any = None
        if self.interactive:
            from prompt_toolkit import PromptSession
            from prompt_toolkit.history import FileHistory, InMemoryHistory
            history = FileHistory(str(history_file)) if history_file else InMemoryHistory()
            self._session = PromptSession(history=history)
        else:
            threading.Thread(target=self._pump_stdin, name="stdin", daemon=True).start()

    def _pump_stdin(self) -> None:
        for line in sys.stdin:
            self._lines.put(line.rstrip("\r\n"))
        self._lines.put(None)

    def printing(self) -> AbstractContextManager[object]:
        """Context in which other threads may print without breaking the prompt."""
        if self.interactive:
            from prompt_toolkit.patch_stdout import patch_stdout
            return patch_stdout(raw=True)
        return nullcontext()

    def read(self, prompt: Callable[[], str], hidden: bool = False) -> str | None:
        if self._session is not None:
            try:
                text: str | None = self._session.prompt(prompt, is_password=hidden)
            except (EOFError, KeyboardInterrupt):
                return None
            return text
        print(prompt(), end="", flush=True)
        line = self._lines.get()
        if line is not None:
            print("*" * len(line) if hidden else line)
        return line

    def refresh(self) -> None:
        """Redraw the prompt (its text changed because of a message from the server)."""
        if self._session is not None and self._session.app.is_running:
            self._session.app.invalidate()

    def interrupt(self) -> None:
        """Make a pending ``read`` return None (the connection is gone)."""
        if self._session is not None and self._session.app.is_running:
            self._session.app.loop.call_soon_threadsafe(self._session.app.exit)
        else:
            self._lines.put(None)


def retry_delay(attempt: int, elapsed: float) -> float:
    """Seconds before reconnection attempt ``attempt`` (0 first), ``elapsed`` seconds after
    the connection was lost: 0.5, 1, 2, then every 3 s for the first half-minute (a server
    restart takes a few seconds), then doubling up to every 15 s."""
    delay = 0.5 * (1 << min(attempt, 8))
    return min(delay, EARLY_CAP if elapsed < EARLY else LATE_CAP)


EARLY, EARLY_CAP, LATE_CAP = 30.0, 3.0, 15.0
STILL_TRYING = 30.0  # seconds between "still trying" lines


class Reconnector:
    """Brings a lost connection back in the background (``retry_delay``, with jitter).

    ``reopen`` makes a new connection and restores the session on it (True when done);
    ``say`` tells the user what is going on: one line when the connection is lost, then
    one every half-minute while it stays lost.
    """

    def __init__(self, reopen: Callable[[], bool], say: Callable[[str], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._reopen, self._say, self._clock = reopen, say, clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def active(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if not self.active:
            self._thread = threading.Thread(target=self._run, name="reconnect", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        lost = self._clock()
        told = lost
        self._say("Connection lost: reconnecting... (what you type waits until you are back; "
                  "'/q' quits)")
        attempt = 0
        while not self._stop.is_set():
            wait = retry_delay(attempt, self._clock() - lost) * \
                random.uniform(0.8, 1.2)  # noqa: S311 (jitter, not a secret)
            if self._stop.wait(wait):
                return
            try:
                if self._reopen():
                    return
                reason = "the server did not greet us"
            except ClientError as exc:
                reason = str(exc)
            attempt += 1
            now = self._clock()
            if now - told >= STILL_TRYING:
                told = now
                self._say(f"Still reconnecting, for {now - lost:.0f} s now ({reason}).")


class ClientLog:
    """``logs/client.log``: one line per frame, ``[time] [pclient 4242.1] [SEND] text``: the
    client program, its process id and connection number (several clients may share the file),
    the direction, and the frame's text, redacted and escaped.  Heartbeat pings and pongs are
    left out unless ``heartbeats``."""

    HEARTBEAT = (b'"type":"ping"', b'"type":"pong"')

    def __init__(self, path: Path, program: str, heartbeats: bool = False) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="utf-8")
        self._program, self._heartbeats = program, heartbeats
        self._connections = 0
        self.tag = f"{program} {os.getpid()}"

    def next_connection(self) -> None:
        """Lines from now on belong to a new connection (after a reconnect)."""
        self._connections += 1
        self.tag = f"{self._program} {os.getpid()}.{self._connections}"

    def __call__(self, direction: str, data: bytes) -> None:
        if not self._heartbeats and any(beat in data[:40] for beat in self.HEARTBEAT):
            return
        tag = "SEND" if direction == "SEND" else "RCVD"
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        text = data.decode("utf-8", "replace")
        self._file.write(f"[{stamp}] [{self.tag}] [{tag}] {escape(redact(text), 2000)}\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()
