"""One player's session on the server: its lifecycle, its place, and the features it speaks.

The messages a player may send are answered by the feature modules in
``guessnet.sessions.features`` (accounts, guessing, chat, listings, matches); the session gets
their handler table, and the guessing moves its own lifecycle makes, in the ``PlayerKit``
that ``guessnet.sessions.player_kit`` builds once per process (so this module imports no
feature, and the features may import it).  The session keeps where the player is as a
``Place`` moved only through ``guessnet.sessions.place``'s table; matches move it with
``enter_match``/``leave_match``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from guessnet import wire
from guessnet.games.guess import GuessRoom
from guessnet.net.conn import Connection
from guessnet.net.pacing import TokenBucket
from guessnet.services.composition import Services
from guessnet.services.errors import Refused
from guessnet.services.resume import ResumeTokens
from guessnet.sessions import place
from guessnet.sessions.place import Place
from guessnet.sessions.session import HandlerTable, Session
from guessnet.storage.base import BackendError, JSONDict
from guessnet.support.logs import CONNECTIONS_BURST, escape, log, noisy
from guessnet.wire.closing import Close

CHAT_RATE, CHAT_BURST, CHAT_MUTE = 5.0, 10.0, 30.0  # chat lines a second, a burst, the mute


@dataclass
class PlayerKit:
    """What the player sessions of a process share besides the services: the handler table of
    every feature, the resume tokens, and the guessing moves a session's lifecycle makes
    (leave its game; hold its seat when the connection drops)."""

    handlers: HandlerTable
    resume: ResumeTokens[PlayerSession]
    leave_game: Callable[[PlayerSession], None]
    hold_seat: Callable[[PlayerSession, float], None]
    seats_elsewhere: SeatsElsewhere | None = None  # resume on another process (with Redis)


class SeatsElsewhere(Protocol):
    """Resume tokens issued by other processes (``guessnet.sessions.handover``)."""

    def claim(self, session: PlayerSession, token: str) -> bool:
        """Take over the seat another process holds for ``token``; False if none does."""

    def held(self, session: PlayerSession) -> None:
        """``session`` dropped and its seat is held: any process may be asked for it."""


class PlayerSession(Session):
    """A player's connection.  Features read and write ``name``, ``account``, ``room``,
    ``single`` and move ``place`` through ``move_to``; other threads use ``evict``,
    ``to_lobby``, ``enter_match``, ``leave_match``, ``send`` and ``info``."""

    def __init__(self, services: Services, kit: PlayerKit, conn: Connection, peer: str) -> None:
        super().__init__(conn, peer, services.registry.next_id(), kit.handlers, services.metrics)
        self.services = services
        self.kit = kit
        self.host = peer.rsplit(":", 1)[0]
        self.connected_at = time.time()
        self._connected_mono = time.monotonic()
        self.name: str | None = None
        self.account = False
        self.place = Place.ANONYMOUS
        self.room: str | None = None
        self.single: GuessRoom | None = None
        self.match_title = ""  # the game of the match the player is in (presence shows it)
        self.token_hash: str | None = None
        self.transferred = False  # a resumed session took over everything
        self.abandoned = False    # the seat was released
        self.chat_bucket = TokenBucket(CHAT_RATE, CHAT_BURST, time.monotonic())
        self.muted_until = 0.0
        self.chat_warned = False

    # ------------------------------------------------------------------ place

    def move_to(self, target: Place) -> None:
        self.place = place.move(self.place, target)

    @property
    def where(self) -> str:
        if self.place is Place.ROOM:
            return f"room {self.room}"
        if self.place is Place.MATCH:
            return self.match_title
        return str(self.place.value)

    def need_name(self) -> str:
        if self.name is None:
            raise Refused("no_name", "choose a name first: type a name, "
                          "'register NAME' or 'login NAME'")
        return self.name

    def enter_match(self, game: str) -> None:
        with self._lock:
            self.move_to(Place.MATCH)
            self.match_title = game
        self.services.registry.publish_presence(self)

    def leave_match(self) -> None:
        with self._lock:
            if self.place is Place.MATCH:
                self.move_to(Place.LOBBY)
        self.services.registry.publish_presence(self)

    def to_lobby(self) -> None:
        """Leave a guessing game (or stop watching), telling the player (before a match
        starts, or a rename)."""
        with self._lock:
            if self.place is Place.WATCHING:
                self.kit.leave_game(self)
                self.send(wire.Ok(message="you stopped watching"))
                return
            if self.place not in place.GUESSING:
                return
            mode: wire.Mode = "single" if self.place is Place.SINGLE else "multi"
            room = self.room
            self.kit.leave_game(self)
            self.send(wire.LeftGame(mode=mode, room=room))
        self.services.registry.publish_presence(self)

    def info(self) -> JSONDict:
        """This session's presence entry, as admins list it on every process."""
        used = self.single.tries_used(self.name) if self.single and self.name else None
        return {"owner": self.services.registry.owner(self),
                "instance": self.services.registry.instance, "conn": self.conn_id,
                "peer": self.peer, "name": self.name, "where": self.where, "room": self.room,
                "since": self.connected_at, "tries": used, "rtt": self.conn.rtt,
                "match": self.services.matches.board_of(self.name) if self.name else None}

    # ------------------------------------------------------------------ lifecycle

    def welcomed(self) -> None:
        rules = self.services.settings.rules
        self.send(wire.Welcome(version=wire.PROTOCOL_VERSION,
                                   server=self.services.settings.instance, low=rules.low,
                                   high=rules.high, tries=rules.tries))

    def on_quit(self, msg: wire.Quit) -> None:
        """The token dies before ``bye`` is sent: a quit session can never be resumed."""
        self.kit.resume.forget(self)
        super().on_quit(msg)

    def serve(self) -> Close:
        """Run the connection to its end; hold the seat for a resume if it dropped."""
        services = self.services
        services.registry.add_player(self)
        noisy(f"connected {self.host}", "CONNECTION", f"{self.peer} connected (#{self.conn_id})",
              burst=CONNECTIONS_BURST)
        services.channels.admin_event("connected", f"{self.peer} connected", None,
                                      conn=self.conn_id, peer=self.peer)
        held = False
        grace = self.kit.resume.grace
        try:
            self.conn.run(self.on_message, self.on_protocol_error, self.on_tick)
        finally:
            reason = self.conn.close_reason or Close.DROPPED
            with self._lock:
                services.registry.unlist(self)
                services.metrics.closed(reason, self.conn.outbox.queued_total)
                if self.transferred:
                    pass
                elif reason.resumable and self.name and \
                        not services.registry.shutting_down and self.kit.resume.hold(self):
                    held = True
                    if self.kit.seats_elsewhere is not None:
                        self.kit.seats_elsewhere.held(self)
                    services.invitations.cancel_for(self)
                    services.matches.on_hold(self, grace)
                    try:
                        self.kit.hold_seat(self, grace)
                    except BackendError as exc:
                        log("ERROR", f"{self.peer}: room not told of the drop: {escape(exc)}")
                else:
                    self.abandon("quit" if reason is Close.QUIT else "disconnected")
        who = f" ({self.name})" if self.name else ""
        seat = f"; seat held for {grace:g} s" if held else ""
        line = f"{self.peer}{who} disconnected: {reason.value}{seat}"
        if self.name is None:  # never named: one of a flood, perhaps
            noisy(f"disconnected {self.host}", "CONNECTION", line, burst=CONNECTIONS_BURST)
        else:
            log("CONNECTION", line)
        services.channels.admin_event("disconnected", f"{self.peer}{who} disconnected: "
                                      f"{reason.value}{seat}", None, conn=self.conn_id,
                                      peer=self.peer, name=self.name)
        return reason

    def abandon(self, how: str) -> None:
        """Release everything this session held: match, game, name (any thread)."""
        services = self.services
        with self._lock:
            if self.transferred or self.abandoned:
                return
            self.abandoned = True
            self.kit.resume.forget(self)
            services.invitations.cancel_for(self)
            services.matches.player_left(self, how)
            try:
                self.kit.leave_game(self)
            except BackendError as exc:
                log("ERROR", f"{self.peer} left without a trace in its room: {escape(exc)}")
            services.channels.leave_all(self)
            services.registry.remove_player(self)
        reason = self.conn.close_reason
        if reason is not None and reason.resumable and self.name:
            log("GAME", f"{self.name}'s seat released: {how}")
            services.channels.admin_event("left", f"{self.name}'s seat released: {how}", None,
                                          name=self.name)

    def on_tick(self, now: float) -> float | None:
        """Cut a connection that stays nameless; return when to look again (None: never)."""
        if self.name is not None:
            return None
        deadline = self._connected_mono + self.services.settings.idle_timeout
        if now < deadline:
            return deadline
        self.send(wire.Bye(reason=Close.IDLE.value, message="no name given in time"))
        self.conn.close(Close.IDLE)
        return None

    def evict(self, reason: Close, message: str) -> None:
        """Close this session from another thread (kick, login elsewhere), seat and all."""
        with self._lock:
            self.send(wire.Bye(reason=reason.value, message=message))
            self.conn.close(reason)
            self.abandon(reason.value)

    def rename(self, new: str) -> None:
        """The host renamed this player (any thread): out of their game or match, the new
        name taken over, the player told (with a new resume token for the new name)."""
        services = self.services
        with self._lock:
            if self.name is None or self.abandoned:
                return
            services.invitations.cancel_for(self)
            services.matches.player_left(self, "was renamed by the host")
            self.to_lobby()
            services.registry.claim_name(self, new, account=True)
            services.registry.release_name(self)
            old, self.name = self.name, new
            self.send(wire.Identified(name=new, account=self.account,
                                      resume_token=self.kit.resume.issue(self)))
            self.send(wire.Notice(text=f"the host renamed you: you play as {new} now, back "
                                  "in the lobby (join a game again from the menu)",
                                  sender="admin"))
        services.registry.publish_presence(self)
        log("AUTH", f"{self.peer} renamed from {old} to {new} by the host")

    def hand_off(self) -> bool:
        """Another process resumes this held seat: True (this session will release nothing
        from now on) unless it was released or resumed already."""
        with self._lock:
            if self.transferred or self.abandoned or self.name is None:
                return False
            self.transferred = True
            return True

    def hand_over(self, new: PlayerSession) -> None:
        """A resume: ``new`` takes this dropped session's name, place and game; this one
        closes and will release nothing."""
        with self._lock:
            self.transferred = True
            self.send(wire.Bye(reason=Close.REPLACED.value, message="session resumed elsewhere"))
            self.conn.close(Close.REPLACED)
            new.name, new.account, new.place = self.name, self.account, self.place
            new.room, new.single = self.room, self.single
