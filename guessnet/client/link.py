"""The player client's link to the server: requests and answers, and coming back by itself.

``PlayerLink`` owns the connection (a ``NetThread``) and the ``PlayerView``: every message from
the server updates the view, then goes to the user interface's ``show``.  ``ask`` sends a
request and waits for its answer.  When the connection is lost (not closed on purpose), the
link reconnects in the background (``Reconnector``, with jitter) and puts the session back:

* it resumes with the newest resume token (each ``identified`` brings a new one): same name,
  room, tries and match, and says "Back: you are where you were.";
* if the server no longer knows the token (it restarted), it says so, logs back in (the
  account, or the guest name, waiting while another process still holds the seat) and
  rejoins the guessing game; a match is lost with the restart, and it says that too.

Lines typed meanwhile wait (``wait_online``) and are sent once the session is back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from guessnet import wire
from guessnet.client.connection import InputRefused, NetThread, Reconnector, answers
from guessnet.client.dial import unframed
from guessnet.client.view import PlayerView, Where
from guessnet.net.conn import Connection
from guessnet.wire.closing import Close, close_of

NAME_HELD, NAME_RETRY = 40.0, 2.0  # seconds: a guest name held by a seat on another process


class PlayerLink:
    """See the module docstring.  ``say`` prints a line about the link itself."""

    def __init__(self, connect: Callable[[], Connection], show: Callable[[wire.Message], None],
                 say: Callable[[str], None], closed: Callable[[str], None]) -> None:
        self.view = PlayerView()
        self.credentials: tuple[str, str] | None = None  # to log back in after a restart
        self.finished = threading.Event()
        self.online = threading.Event()  # connected, and the session is restored
        self.greeted = False  # the first connection was welcomed
        self._restoring = False  # reopen's own exchanges are not news
        self._connect, self._show, self._say, self._closed = connect, show, say, closed
        self.reconnector = Reconnector(self.reopen, say)
        self.net = NetThread(connect(), self._on_message, self._on_closed)

    # ------------------------------------------------------------------ network thread

    def _on_message(self, msg: wire.Message) -> None:
        self.view.note(msg)
        if unframed(msg, self.greeted):
            return
        if self._restoring and isinstance(msg, wire.Error | wire.Identified):
            return  # an old token refused, the name taken back: reopen says it in one line
        self._show(msg)

    def _on_closed(self, net: NetThread) -> None:
        """The network thread ended: reconnect, unless the server meant it (or we quit)."""
        if net is not self.net or self.finished.is_set() or not self.greeted:
            return  # (never greeted: the caller says why, nothing to come back to)
        self.online.clear()
        reason = close_of(self.view.bye) or net.close_reason or Close.DROPPED
        if reason.final:  # the server meant it: coming back would be wrong
            self.finished.set()
            self._closed(reason.value)
            return
        self.reconnector.start()

    # ------------------------------------------------------------------ requests

    def start(self) -> wire.Welcome | None:
        """Greet the server on the first connection; its welcome, or None."""
        welcome = self._greet(self.net)
        if welcome is not None:
            self.greeted = True
            self.online.set()
        return welcome

    def _greet(self, net: NetThread) -> wire.Welcome | None:
        net.start()
        welcome = net.request(wire.Hello(version=wire.PROTOCOL_VERSION, client="pclient"),
                              answers(wire.Welcome))
        if not isinstance(welcome, wire.Welcome):
            return None
        self.view.low, self.view.high = welcome.low, welcome.high
        return welcome

    def ask(self, msg: wire.Message, *types: type[wire.Message],
            until: Callable[[wire.Message], bool] | None = None) -> wire.Message | None:
        """Send ``msg``; wait for a message of one of ``types`` (or one ``until`` accepts),
        an error or a goodbye, so that the next prompt prints after the whole answer."""
        if self.net.closed.is_set():
            self._say("Not sent: the connection was lost; reconnecting ('/q' quits).")
            return None
        try:
            answer = self.net.request(msg, until or answers(*types))
        except InputRefused as exc:
            self._say(str(exc))
            return None
        if answer is None and not self.net.closed.is_set():
            self._say("No answer from the server yet; it may be busy.")
        return answer

    def wait_online(self) -> bool:
        """Hold a typed line until the session is back; False if the client is finishing."""
        if self.online.is_set():
            return True
        self._say("(not connected: this line is sent when you are back; '/q' quits)")
        while not self.online.wait(0.5):
            if self.finished.is_set():
                return False
        return not self.finished.is_set()

    def quit(self) -> None:
        self.finished.set()
        self.reconnector.stop()
        self.net.hang_up()

    # ------------------------------------------------------------------ coming back

    def reopen(self) -> bool:
        """Connect again and put the session back (``Reconnector``'s job); True when done."""
        net = NetThread(self._connect(), self._on_message, self._on_closed)
        self.view.bye = None
        self._restoring = True
        try:
            if self._greet(net) is None:
                net.stop()
                return False
            self.net = net
            if self._resume(net):
                self._say("Back: you are where you were.")
            elif self.view.name is None:
                self._say("Back: connected again.")
            else:
                self._say("The server restarted: logging you back in...")
                self._restore(net)
        finally:
            self._restoring = False
        self.online.set()
        return True

    def _resume(self, net: NetThread) -> bool:
        token = self.view.resume_token
        if token is None:
            return False
        answer = net.request(wire.Resume(token=token), answers(wire.Identified))
        if isinstance(answer, wire.Identified):
            return True
        self.view.resume_token = None
        return False

    def _restore(self, net: NetThread) -> None:
        """After a server restart: take the name back (the account, or the guest name) and
        the guessing game; say in one line what could not be restored."""
        view = self.view
        name, mode, room, where = view.name, view.mode, view.room, view.where
        view.restarted()
        answer = self._name_again(net, name or "")
        if not isinstance(answer, wire.Identified):
            why = answer.message if isinstance(answer, wire.Error) else "no answer"
            self._say(f"Could not log you back in as {name} ({why}): choose a name again.")
            return
        back = ""
        if where is Where.GUESSING and mode is not None:
            started = net.request(wire.Play(mode=mode, room=room), answers(wire.RoundStarted))
            if isinstance(started, wire.RoundStarted):
                back = f" in room {room}" if room else " in a new single-player game"
        elif where is Where.MATCH:
            back = " (your match was lost with the restart)"
        self._say(f"Back as {answer.name}{back}.")

    def _name_again(self, net: NetThread, name: str) -> wire.Message | None:
        if self.credentials is not None:
            login = wire.Login(name=self.credentials[0], password=self.credentials[1])
            return net.request(login, answers(wire.Identified))
        answer = net.request(wire.SetName(name=name), answers(wire.Identified))
        deadline = time.monotonic() + NAME_HELD
        while isinstance(answer, wire.Error) and answer.code == "name_taken" and \
                time.monotonic() < deadline and not self.finished.wait(NAME_RETRY):
            # another server process still holds the seat this connection left (its resume
            # token is unknown here): the name is free once that seat is released
            answer = net.request(wire.SetName(name=name), answers(wire.Identified))
        return answer
