"""What pclient and aclient share: connecting with clear errors, a network thread, line input.

The network thread owns the TLS connection (``conn.Connection.run``) and hands each message to a
callback that prints it at once, above the line being typed when standard input is a terminal
(prompt_toolkit's ``patch_stdout``).  The input side sends a request and waits, with a deadline,
for the message that answers it, so piped scripts see every answer before their next line.
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

from guessnet import wire
from guessnet.net.conn import Connection
from guessnet.wire.closing import Close
from guessnet.wire.redaction import redact
from guessnet.wire.text import escape

REPLY_TIMEOUT = 15.0


class ClientError(Exception):
    """An expected failure the user can fix (server down, bad certificate); printed, exit 1."""


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
        self.close_reason: Close | None = None
        self.protocol_error: wire.RemoteProtocolError | None = None  # the last bad data
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
        self.protocol_error = exc
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
        self.conn.close(Close.QUIT)
        self._thread.join(timeout)

    def hang_up(self) -> None:
        """Say ``quit`` (waiting briefly for the goodbye) if still connected, then stop."""
        if not self.closed.is_set():
            self.request(wire.Quit(), answers(), timeout=3)
        self.stop()


class InputRefused(Exception):
    """A line the client will not send; the message says why, in one line."""


# what a field of an outgoing message is, in the words of the player who typed it
FIELD_WORDS = {"text": "the message", "name": "the name", "to": "the name", "room": "the room "
               "name", "game": "the game's name", "cell": "the move", "password": "the password",
               "old": "the password", "new": "the password", "target": "the name",
               "reason": "the reason", "mode": "the game's name"}
_FIELD = re.compile(r"field '(\w+)' (.*)")
_LONGER = re.compile(r"is longer than (\d+)")


def check_outgoing(msg: wire.Message) -> None:
    """Raise ``InputRefused`` when the server would refuse ``msg`` for its form (a field too
    long, a number out of range, a lone surrogate) or it would not fit in one frame; the
    message says what to change in the player's words, not the protocol's."""
    try:
        wire.from_dict(msg.to_dict())
        wire.encode(msg)
    except wire.RemoteProtocolError as exc:
        found = _FIELD.search(str(exc))
        what = FIELD_WORDS.get(found.group(1), "what you typed") if found else "what you typed"
        longer = _LONGER.search(str(exc))
        if longer:
            raise InputRefused(f"Not sent: {what} is too long (at most {longer.group(1)} "
                               "characters). Shorten it.") from None
        raise InputRefused(f"Not sent: {what} holds characters that cannot be sent. Correct "
                           "it.") from None
    except wire.LocalProtocolError:
        size = len(wire.payload_of(msg))
        raise InputRefused(f"Not sent: that is {size} bytes once encoded, and one message "
                           f"carries at most {wire.MAX_PAYLOAD}. Shorten it.") from None


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


def retry_delay(attempt: int, elapsed: float) -> float:
    """Seconds before reconnection attempt ``attempt`` (0 first), ``elapsed`` seconds after
    the connection was lost: 0.5, 1, 2, then every 3 s for the first two minutes (a server
    restart takes a few seconds), then every 5 s: a client is back within a few seconds of
    the server, however long it was away.  The caller adds jitter (a thousand clients that
    lost one server do not knock on the new one in step)."""
    delay = 0.5 * (1 << min(attempt, 8))
    return min(delay, EARLY_CAP if elapsed < EARLY else LATE_CAP)


EARLY, EARLY_CAP, LATE_CAP = 120.0, 3.0, 5.0
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
