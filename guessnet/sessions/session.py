"""The skeleton every session shares, player or admin: a handler table, ``hello`` first,
``quit``, error translation and tables.

Subclasses (``player_session.PlayerSession``, ``admin_session.AdminSession``) hand in their
``handlers`` (the message types they answer, each with its function, built by
``handler_table``, which refuses a message type answered twice) and may override ``welcomed``
(what follows a good ``hello``) and ``label`` (how logs name the peer).  Callers use
``on_message`` and ``on_protocol_error`` (the connection loop's callbacks), ``send`` and
``send_table``.

Every message runs under the session's lock.  What a handler raises is translated here, once:
``Refused`` (the client's fault) and ``GuessRejected`` (a move the rules refuse) become an
``error`` with their code; ``BackendError`` becomes ``unavailable``; anything else is our bug:
logged with its traceback and answered ``internal``.  The connection lives on in every case.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from guessnet import wire
from guessnet.games.guess import GuessRejected
from guessnet.net.conn import Connection
from guessnet.services.errors import Refused
from guessnet.services.metrics import Metrics
from guessnet.storage.base import BackendError
from guessnet.support.logs import escape, log, noisy
from guessnet.wire.closing import Close
from guessnet.wire.tables import table_frames

Handler = Callable[[Any, Any], None]  # (session, message of the type it is registered for)
HandlerTable = dict[type[wire.Message], Handler]


def handler_table(*tables: HandlerTable) -> HandlerTable:
    """One table of several features' handlers; ``ValueError`` (at start-up) when two answer
    the same message type, which a merge would let the later one win silently, or answer
    one the session answers itself."""
    merged: HandlerTable = {}
    for table in tables:
        for kind, handler in table.items():
            if kind in merged:
                raise ValueError(f"'{kind.TYPE}' has two handlers: {merged[kind].__qualname__} "
                                 f"and {handler.__qualname__}")
            if kind in (wire.Hello, wire.Quit, wire.Pong):  # the session's own (``_handle``)
                raise ValueError(f"'{kind.TYPE}' is answered by the session itself")
            merged[kind] = handler
    return merged


class Session:
    """See the module docstring."""

    unavailable_message = "service temporarily unavailable: try again in a few seconds"

    def __init__(self, conn: Connection, peer: str, conn_id: str, handlers: HandlerTable,
                 metrics: Metrics | None = None) -> None:
        self.conn = conn
        self.handlers = handlers
        self.peer = peer
        self.conn_id = conn_id
        self.metrics = metrics  # each message's type and handling time
        self.greeted = False
        self._lock = threading.RLock()

    @property
    def label(self) -> str:
        return self.peer

    def send(self, msg: wire.Message) -> None:
        self.conn.send(msg)

    def send_all(self, msgs: list[wire.Message]) -> None:
        self.conn.send_all(msgs)

    def send_table(self, title: str, columns: list[str], rows: list[list[Any]]) -> None:
        for frame in table_frames(title, columns, rows):
            self.conn.send_frame(frame)

    def on_protocol_error(self, exc: wire.RemoteProtocolError) -> None:
        noisy(f"protocol error {self.peer.rsplit(':', 1)[0]}", "ERROR",
              f"{self.label} protocol error {exc.code}: {escape(exc)}")
        self.send(exc.reply())

    def on_message(self, msg: wire.Message) -> None:
        started = time.perf_counter()
        try:
            self._handle(msg)
        finally:
            if self.metrics is not None:
                self.metrics.received(msg.TYPE, time.perf_counter() - started)

    def _handle(self, msg: wire.Message) -> None:
        with self._lock:
            try:
                handler = self.handlers.get(type(msg)) if self.greeted else None
                if handler is not None:  # most messages: a feature's (never hello or quit)
                    handler(self, msg)
                elif isinstance(msg, wire.Hello):
                    self.on_hello(msg)
                elif isinstance(msg, wire.Pong):
                    return
                elif not self.greeted:
                    raise Refused("hello_first", "send 'hello' with the protocol version first")
                elif isinstance(msg, wire.Quit):
                    self.on_quit(msg)
                else:
                    self.handlers[type(msg)](self, msg)
            except Refused as exc:
                self.send(wire.Error(code=exc.code, message=str(exc)))
                if exc.pause:
                    self.conn.pause_reading(exc.pause)
            except GuessRejected as exc:
                self.send(wire.Error(code="rejected", message=str(exc)))
            except BackendError as exc:
                log("ERROR", f"backend: {escape(exc)}")
                self.send(wire.Error(code="unavailable", message=self.unavailable_message))
            except Exception:
                log("ERROR", f"{self.label}: handler for '{msg.TYPE}' crashed: "
                    f"{escape(traceback.format_exc(), 4000)}")
                self.send(wire.Error(code="internal", message=(
                    f"the server failed to handle '{msg.TYPE}' (its log says why): "
                    "try something else, or report it to the host")))

    def on_hello(self, msg: wire.Hello) -> None:
        if msg.version != wire.PROTOCOL_VERSION:
            self.send(wire.Bye(reason=Close.VERSION.value, message=(
                f"this server speaks protocol {wire.PROTOCOL_VERSION}, "
                f"not {msg.version}: update your client")))
            self.conn.close(Close.VERSION)
            return
        self.greeted = True
        self.welcomed()

    def welcomed(self) -> None:
        """Send the ``welcome`` (and whatever follows it for this kind of session)."""

    def on_quit(self, msg: wire.Quit) -> None:
        self.send(wire.Bye(reason=Close.QUIT.value, message="goodbye"))
        self.conn.close(Close.QUIT)
