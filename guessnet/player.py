"""One player's session on the server: the messages a player may send, and what they do.

A session goes anonymous -> named (lobby) -> in a game (single or a multiplayer room) -> lobby,
as the player names themself, plays and leaves.  Every refusal is a ``Refused`` carrying the
error code and a message that says what to do instead; it never ends the session.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

import protocol
from games.guess import FinishedRound, GuessRejected, GuessRoom
from guessnet import accounts
from guessnet.conn import Connection
from guessnet.guessing import guess_record, hint_message, round_ended, round_started
from guessnet.hub import LOBBY, Hub, NameBusy, Refused, envelope, table_frames
from guessnet.listings import clean_text, deliver_to, send_history, send_leaders, send_replay
from guessnet.logs import escape, log
from guessnet.pacing import TokenBucket
from storage.base import BackendError, NameTaken, Transition, room_channel

# connections lost this way may come back with their resume token
RESUMABLE = frozenset(["dropped", "timed out", "frame deadline", "slow reader"])
CHAT_RATE, CHAT_BURST, CHAT_MUTE = 5.0, 10.0, 30.0
DUMMY_HASH = accounts.hash_password("not a real password")


class PlayerSession:
    def __init__(self, hub: Hub, conn: Connection, peer: str) -> None:
        self.hub = hub
        self.conn = conn
        self.peer = peer
        self.conn_id = hub.next_id()
        self.connected_at = time.time()
        self._connected_mono = time.monotonic()
        self.name: str | None = None
        self.account = False
        self.greeted = False
        self.mode: str | None = None
        self.room: str | None = None
        self.single: GuessRoom | None = None
        self.token_hash: str | None = None
        self.transferred = False  # a resumed session took over everything
        self.abandoned = False    # the seat was released
        self._lock = threading.RLock()
        self._chat = TokenBucket(CHAT_RATE, CHAT_BURST, time.monotonic())
        self._muted_until = 0.0
        self._chat_warned = False
        self._handlers: dict[type[protocol.Message], Callable[[Any], None]] = {
            protocol.Hello: self.on_hello, protocol.SetName: self.on_name,
            protocol.Register: self.on_register, protocol.Login: self.on_login,
            protocol.ChangePassword: self.on_passwd, protocol.Logout: self.on_logout,
            protocol.Play: self.on_play, protocol.Guess: self.on_guess,
            protocol.Leave: self.on_leave, protocol.Quit: self.on_quit,
            protocol.Say: self.on_say, protocol.DirectMessage: self.on_msg,
            protocol.Who: self.on_who, protocol.Leaders: self.on_leaders,
            protocol.History: self.on_history, protocol.Replay: self.on_replay,
            protocol.Invite: lambda msg: self.hub.matches.invite(self, msg.to),
            protocol.InviteReply: lambda msg: self.hub.matches.reply(self, msg.accept),
            protocol.Move: lambda msg: self.hub.matches.move(self, msg.cell),
            protocol.Resign: lambda msg: self.hub.matches.resign(self),
            protocol.Resume: self.on_resume,
            protocol.Pong: lambda msg: None,
        }

    @property
    def where(self) -> str:
        if self.mode == "multi":
            return f"room {self.room}"
        if self.mode == "tictactoe":
            return "tic-tac-toe"
        return self.mode or ("lobby" if self.name else "-")

    def tries_used(self) -> int | None:
        if self.single is not None and self.name:
            return self.single.tries_used(self.name)
        return None

    # ------------------------------------------------------------------ lifecycle

    def serve(self) -> str:
        hub = self.hub
        hub.add_player(self)
        log("CONNECTION", f"{self.peer} connected (#{self.conn_id})")
        hub.admin_event("connected", f"{self.peer} connected", None, conn=self.conn_id,
                        peer=self.peer)
        held = False
        try:
            self.conn.run(self.on_message, self.on_protocol_error, self.on_tick)
        finally:
            reason = self.conn.close_reason or "dropped"
            with self._lock:
                hub.unlist(self)
                if self.transferred:
                    pass
                elif reason in RESUMABLE and self.name and not hub.shutting_down and \
                        hub.resume.hold(self):
                    held = True
                    hub.matches.on_hold(self, hub.resume.grace)
                else:
                    self.abandon("quit" if reason == "quit" else "disconnected")
        who = f" ({self.name})" if self.name else ""
        seat = f"; seat held for {hub.resume.grace:g} s" if held else ""
        log("CONNECTION", f"{self.peer}{who} disconnected: {reason}{seat}")
        hub.admin_event("disconnected", f"{self.peer}{who} disconnected: {reason}{seat}", None,
                        conn=self.conn_id, peer=self.peer, name=self.name)
        return reason

    def abandon(self, how: str) -> None:
        """Release everything this session held: match, game, name (any thread)."""
        with self._lock:
            if self.transferred or self.abandoned:
                return
            self.abandoned = True
            self.hub.resume.forget(self)
            self.hub.matches.player_left(self, how)
            try:
                self._leave_game()
            except BackendError as exc:
                log("ERROR", f"{self.peer} left without a trace in its room: {escape(exc)}")
            self.hub.leave_channel(self, LOBBY)
            self.hub.remove_player(self)
        if self.conn.close_reason in RESUMABLE and self.name:
            log("GAME", f"{self.name}'s seat released: {how}")
            self.hub.admin_event("left", f"{self.name}'s seat released: {how}", None,
                                 name=self.name)

    def on_tick(self, now: float) -> float | None:
        """Cut a connection that stays nameless; return when to look again (None: never)."""
        if self.name is not None:
            return None
        deadline = self._connected_mono + self.hub.settings.idle_timeout
        if now < deadline:
            return deadline
        self.send(protocol.Bye(reason="idle", message="no name given in time"))
        self.conn.close("idle")
        return None

    def send(self, msg: protocol.Message) -> None:
        self.conn.send(msg)

    def evict(self, reason: str, message: str) -> None:
        """Close this session from another thread (kick, login elsewhere), seat and all."""
        with self._lock:
            self.send(protocol.Bye(reason=reason, message=message))
            self.conn.close(reason)
            self.abandon(reason)

    def on_protocol_error(self, exc: protocol.RemoteProtocolError) -> None:
        log("ERROR", f"{self.peer} protocol error {exc.code}: {escape(exc)}")
        self.send(exc.reply())

    def on_message(self, msg: protocol.Message) -> None:
        with self._lock:
            try:
                if not self.greeted and not isinstance(msg, protocol.Hello):
                    raise Refused("hello_first", "send 'hello' with the protocol version first")
                self._handlers[type(msg)](msg)
            except Refused as exc:
                self.send(protocol.Error(code=exc.code, message=str(exc)))
            except GuessRejected as exc:
                self.send(protocol.Error(code="rejected", message=str(exc)))
            except BackendError as exc:
                log("ERROR", f"backend: {escape(exc)}")
                self.send(protocol.Error(
                    code="unavailable",
                    message="service temporarily unavailable: try again in a few seconds"))

    # ------------------------------------------------------------------ greeting and names

    def on_hello(self, msg: protocol.Hello) -> None:
        if msg.version != protocol.PROTOCOL_VERSION:
            self.send(protocol.Bye(reason="version", message=(
                f"this server speaks protocol {protocol.PROTOCOL_VERSION}, "
                f"not {msg.version}: update your client")))
            self.conn.close("version")
            return
        rules = self.hub.settings.rules
        self.greeted = True
        self.send(protocol.Welcome(version=protocol.PROTOCOL_VERSION,
                                   server=self.hub.settings.instance, low=rules.low,
                                   high=rules.high, tries=rules.tries))

    def _need_name(self) -> str:
        if self.name is None:
            raise Refused("no_name", "choose a name first: type a name, "
                          "'register NAME PASSWORD' or 'login NAME PASSWORD'")
        return self.name

    def _valid_name(self, name: str) -> str:
        try:
            return accounts.check_name(name)
        except accounts.NameInvalid as exc:
            raise Refused("bad_name", str(exc)) from None

    def _take_name(self, name: str, account: bool) -> None:
        """Become ``name``; an older session of the same account is told and closed."""
        old_name = self.name
        if old_name is not None and old_name.casefold() != name.casefold():
            if self.mode is not None:
                raise Refused("in_game", "leave the game ('exit') before changing name")
        try:
            self.hub.claim_name(self, name, account)
        except NameBusy:
            raise Refused("name_taken", f"{name} is already playing: choose another name") \
                from None
        if old_name is not None and old_name.casefold() != name.casefold():
            self.hub.release_name(self)
        self.name, self.account = name, account
        self.hub.join_channel(self, LOBBY)
        self.hub.publish_presence(self)
        self.send(protocol.Identified(name=name, account=account,
                                      resume_token=self.hub.resume.issue(self)))

    def info(self) -> dict[str, Any]:
        """This session's presence entry, as admins list it on every process."""
        used = self.tries_used()
        return {"owner": self.hub.owner(self), "instance": self.hub.settings.instance,
                "conn": self.conn_id, "peer": self.peer, "name": self.name,
                "where": self.where, "room": self.room, "since": self.connected_at,
                "tries": used, "rtt": self.conn.rtt}

    def on_name(self, msg: protocol.SetName) -> None:
        name = self._valid_name(msg.name)
        if self.account:
            raise Refused("logged_in", f"you are logged in as {self.name}: 'logout' first")
        if self.name is not None and self.name.casefold() == name.casefold():
            self.send(protocol.Identified(name=name, account=False))
            return
        if self.hub.backends.store.get_user(name) is not None:
            raise Refused("name_taken", f"{name} is a registered account: "
                          f"'login {name}' or choose another name")
        self._take_name(name, account=False)
        log("AUTH", f"{self.peer} playing as guest {name}")
        self.hub.admin_event("named", f"{self.peer} is now {name} (guest)", None,
                             conn=self.conn_id,
                             peer=self.peer, name=name)

    def on_register(self, msg: protocol.Register) -> None:
        name = self._valid_name(msg.name)
        try:
            accounts.check_password(msg.password)
        except ValueError as exc:
            raise Refused("bad_password", str(exc)) from None
        if self.account:
            raise Refused("logged_in", f"you are logged in as {self.name}: 'logout' first")
        mine = self.name is not None and self.name.casefold() == name.casefold()
        if self.hub.name_online(name) and not mine:
            raise Refused("name_taken", f"{name} is already playing: choose another name")
        try:
            self.hub.backends.store.create_user(name, accounts.hash_password(msg.password),
                                                time.time())
        except NameTaken:
            raise Refused("name_taken", f"the name {name} is taken (names ignore letter "
                          "case): choose another") from None
        log("AUTH", f"{self.peer} registered {name}")
        self._take_name(name, account=True)
        self.hub.admin_event("login", f"{self.peer} registered and logged in as {name}", None,
                             conn=self.conn_id, peer=self.peer, name=name)

    def on_login(self, msg: protocol.Login) -> None:
        name = self._valid_name(msg.name)
        host = self.peer.rsplit(":", 1)[0]
        keys = [f"user:{name.casefold()}", f"peer:{host}"]
        wait = self.hub.login_wait(keys)
        if wait > 0:
            log("AUTH", f"{self.peer} login as {name} throttled ({wait:.0f} s)")
            raise Refused("throttled", "too many failed logins: try again in "
                          f"{math.ceil(wait)} s")
        if self.account and self.name and self.name.casefold() == name.casefold():
            raise Refused("logged_in", f"you are already logged in as {self.name}")
        user = self.hub.backends.store.get_user(name)
        ok = accounts.verify_password(msg.password, user.password_hash if user else DUMMY_HASH)
        self.hub.login_result(keys, ok and user is not None)
        if not ok or user is None:
            log("AUTH", f"{self.peer} login as {name} failed")
            raise Refused("bad_login", "wrong name or password")
        log("AUTH", f"{self.peer} logged in as {user.name}")
        self._take_name(user.name, account=True)
        self.hub.admin_event("login", f"{self.peer} logged in as {user.name}", None,
                             conn=self.conn_id, peer=self.peer, name=user.name)

    def on_passwd(self, msg: protocol.ChangePassword) -> None:
        name = self._need_name()
        if not self.account:
            raise Refused("not_logged_in", "guests have no password: 'register NAME PASSWORD'")
        user = self.hub.backends.store.get_user(name)
        if user is None or not accounts.verify_password(msg.old, user.password_hash):
            log("AUTH", f"{self.peer} passwd for {name} failed: wrong old password")
            raise Refused("bad_login", "the old password is wrong")
        try:
            accounts.check_password(msg.new)
        except ValueError as exc:
            raise Refused("bad_password", str(exc)) from None
        self.hub.backends.store.set_password(name, accounts.hash_password(msg.new))
        log("AUTH", f"{self.peer} changed the password of {name}")
        self.send(protocol.Ok(message="password changed"))

    def on_logout(self, msg: protocol.Logout) -> None:
        name = self._need_name()
        self.hub.matches.player_left(self, "logged out")
        self._leave_game()
        self.hub.leave_channel(self, LOBBY)
        self.hub.release_name(self)
        self.hub.resume.forget(self)
        self.name, self.account = None, False
        log("AUTH", f"{self.peer} logged out of {name}")
        self.send(protocol.Ok(message=f"{name} logged out: type a name, "
                              "'register NAME PASSWORD' or 'login NAME PASSWORD'"))

    def on_resume(self, msg: protocol.Resume) -> None:
        if self.name is not None:
            raise Refused("logged_in", f"you are already playing as {self.name}")
        old = self.hub.resume.take(msg.token)
        if not isinstance(old, PlayerSession) or old.abandoned:
            log("AUTH", f"{self.peer} resume refused: unknown, used or expired token")
            raise Refused("bad_token", "this session can no longer be resumed (the token is "
                          "unknown, used or expired): choose a name or log in again")
        with old._lock:
            old.transferred = True
            old.send(protocol.Bye(reason="replaced", message="session resumed elsewhere"))
            old.conn.close("replaced")
            self.name, self.account, self.mode = old.name, old.account, old.mode
            self.room, self.single = old.room, old.single
            self.hub.rebind(old, self)
            self.hub.matches.rebind(old, self)
        assert self.name is not None
        self.send(protocol.Identified(name=self.name, account=self.account,
                                      resume_token=self.hub.resume.issue(self)))
        self._send_state()
        self.hub.publish_presence(self)
        log("AUTH", f"{self.peer} resumed the session of {self.name} ({old.peer})")
        self.hub.admin_event("resumed", f"{self.name} is back from {self.peer}", None,
                             conn=self.conn_id, peer=self.peer, name=self.name)

    def _send_state(self) -> None:
        """Tell a resumed player where they are: their round (with tries used) or board."""
        name = self.name
        assert name is not None
        if self.mode == "single" and self.single is not None:
            self._send_round_started(self.single)
        elif self.mode == "multi" and self.room is not None:

            def rejoin(live: GuessRoom) -> Transition:
                live.join(name)  # no-op unless the room forgot us (a restarted Redis)
                return Transition(value=round_started(live, name))

            self.send(self.hub.transact(self.room, rejoin))
        elif self.mode == "tictactoe":
            self.hub.matches.show(self)

    def on_quit(self, msg: protocol.Quit) -> None:
        self.send(protocol.Bye(reason="quit", message="goodbye"))
        self.conn.close("quit")

    # ------------------------------------------------------------------ games

    def on_play(self, msg: protocol.Play) -> None:
        name = self._need_name()
        if msg.mode not in ("single", "multi", "tictactoe"):
            raise Refused("bad_mode", f"unknown mode {escape(msg.mode, 16)!r}: "
                          "use 'single', 'multi' or 'tictactoe'")
        if self.mode == "tictactoe":
            raise Refused("busy", "finish your match first ('resign' concedes)")
        if msg.mode == "tictactoe":
            self.hub.matches.play_bot(self)
            return
        room = self._valid_name(msg.room or "main") if msg.mode == "multi" else None
        if self.mode is not None:
            self._leave_game()
        if msg.mode == "single":
            self.single = self.hub.new_room(f"single-{self.conn_id}", "single")
            self.single.join(name)
            self.mode = "single"
            self._send_round_started(self.single)
            self.hub.publish_presence(self)
            self.hub.admin_event("joined", f"{name} started a single-player game",
                                 conn=self.conn_id, name=name)
            return
        assert room is not None
        channel = room_channel(room)
        self.hub.leave_channel(self, LOBBY)
        self.hub.join_channel(self, channel)

        def join(live: GuessRoom) -> Transition:
            live.join(name)
            started = round_started(live, name)
            update = protocol.RoomUpdate(room=room, name=name, event="joined")
            return Transition(value=started, broadcasts=[envelope(update, skip=name)])

        try:
            started = self.hub.transact(room, join)
        except BaseException:
            self.hub.leave_channel(self, channel)
            self.hub.join_channel(self, LOBBY)
            raise
        self.mode, self.room = "multi", room
        self.send(started)
        self.hub.publish_presence(self)
        self.hub.admin_event("joined", f"{name} joined room {room}", conn=self.conn_id,
                             name=name, room=room)

    def _send_round_started(self, live: GuessRoom) -> None:
        assert self.name is not None
        self.send(round_started(live, self.name))

    def on_guess(self, msg: protocol.Guess) -> None:
        name = self._need_name()
        now, next_secret = self.hub.clock(), self.hub.draw_secret()
        if self.mode == "single" and self.single is not None:
            hint, finished = self.single.guess(name, msg.value, now, next_secret)
            self.send(hint_message(hint))
            if finished is not None:
                game_id = self._record(finished)
                self.send(round_ended(finished, game_id))
                self._send_round_started(self.single)
            return
        if self.mode != "multi" or self.room is None:
            raise Refused("not_playing", "you are not in a guessing game: choose a mode first "
                          "('1' single, '2' multi)")
        room = self.room

        def guess(live: GuessRoom) -> Transition:
            hint, finished = live.guess(name, msg.value, now, next_secret)
            if finished is None:
                return Transition(value=(hint, None))
            return Transition(value=(hint, finished), broadcasts=[
                envelope(hint_message(hint), only=name),
                envelope(round_ended(finished, None), round_started(live, None)),
            ])

        hint, finished = self.hub.transact(room, guess)
        if finished is None:
            self.send(hint_message(hint))
        else:
            self._record(finished)

    def _leave_game(self) -> None:
        """Leave the current guessing game, if any, back to the lobby (no reply sent)."""
        name, mode, room = self.name, self.mode, self.room
        if mode == "tictactoe":
            return
        self.mode, self.room, self.single = None, None, None
        if name is None or mode is None:
            return
        if mode == "multi" and room is not None:
            now, next_secret = self.hub.clock(), self.hub.draw_secret()

            def leave(live: GuessRoom) -> Transition:
                finished = live.leave(name, now, next_secret)
                notes: list[protocol.Message] = [
                    protocol.RoomUpdate(room=room, name=name, event="left")]
                if finished is not None:
                    notes += [round_ended(finished, None), round_started(live, None)]
                return Transition(value=finished, broadcasts=[envelope(*notes)])

            self.hub.leave_channel(self, room_channel(room))
            try:
                finished = self.hub.transact(room, leave)
            finally:
                if self.name is not None:
                    self.hub.join_channel(self, LOBBY)
            if finished is not None:
                self._record(finished)
        where = f"room {room}" if room else "single-player game"
        self.hub.admin_event("left", f"{name} left the {where}", conn=self.conn_id, name=name,
                             room=room)

    def on_leave(self, msg: protocol.Leave) -> None:
        self._need_name()
        if self.mode is None:
            raise Refused("not_playing", "you are not in a game")
        if self.mode == "tictactoe":
            raise Refused("busy", "you are in a tic-tac-toe match: 'resign' concedes it")
        self.to_lobby()

    def to_lobby(self) -> None:
        """Leave a guessing game, if in one, telling the player (before a match starts)."""
        mode, room = self.mode, self.room
        if mode not in ("single", "multi"):
            return
        self._leave_game()
        self.send(protocol.LeftGame(mode=mode, room=room))
        self.hub.publish_presence(self)

    def _record(self, finished: FinishedRound) -> int | None:
        """Store a finished round, count it, tell the admins; return its game id."""
        hub = self.hub
        counters = hub.backends.counters
        counters.incr("rounds:played")
        where = f"room {finished.room}" if finished.mode == "multi" else "single game"
        if finished.winner is not None:
            counters.incr("rounds:won")
            counters.incr("correct:total")
            counters.incr(f"correct:user:{finished.winner.casefold()}")
            if finished.mode == "multi":
                counters.incr(f"correct:room:{finished.room}")
            winner_session = hub.find_player(finished.winner)
            if isinstance(winner_session, PlayerSession):
                counters.incr(f"correct:peer:{winner_session.peer}")
            text = (f"round {finished.round} in {where} won by {finished.winner} "
                    f"(the number was {finished.secret})")
        else:
            text = f"round {finished.round} in {where}: nobody guessed {finished.secret}"
        game_id: int | None = None
        try:
            game_id = hub.backends.store.save_game(guess_record(hub, finished))
        except BackendError as exc:
            log("ERROR", f"could not store round {finished.round} of {where}: {escape(exc)}")
        hub.admin_event("round_ended", text, room=finished.room if finished.mode == "multi"
                        else None, name=finished.winner)
        return game_id

    # ------------------------------------------------------------------ chat

    def on_say(self, msg: protocol.Say) -> None:
        name = self._need_name()
        text = self._chat_text(msg.text)
        if self.mode == "multi" and self.room is not None:
            channel, room = room_channel(self.room), self.room
        else:
            channel, room = LOBBY, LOBBY
        self.hub.publish(channel, protocol.Chat(sender=name, text=text, room=room))
        self.hub.admin_event("chat", f"{name} in {room}: {text}", "GAME", name=name, room=room)

    def on_msg(self, msg: protocol.DirectMessage) -> None:
        name = self._need_name()
        text = self._chat_text(msg.text)
        chat = protocol.Chat(sender=name, text=text, private=True)
        if not deliver_to(self.hub, msg.to, chat):
            raise Refused("not_online", f"{escape(msg.to, 40)} is not online: 'who' lists "
                          "the players online")
        self.send(protocol.Ok(message=f"(to {msg.to}) {text}"))

    def _chat_text(self, raw: str) -> str:
        now = time.monotonic()
        if now < self._muted_until:
            raise Refused("muted", f"you are muted for flooding: wait "
                          f"{math.ceil(self._muted_until - now)} s")
        if not self._chat.take(now):
            if self._chat_warned:
                self._muted_until = now + CHAT_MUTE
                self._chat_warned = False
                raise Refused("muted", f"muted for {CHAT_MUTE:.0f} s: more than "
                              f"{CHAT_RATE:.0f} chat messages a second")
            self._chat_warned = True
            raise Refused("flood", f"slow down: at most {CHAT_RATE:.0f} chat messages a "
                          "second, or you will be muted")
        text = clean_text(raw)
        if not text:
            raise Refused("empty", "nothing to send: type some text after 'say'")
        return text

    # ------------------------------------------------------------------ listings

    def send_table(self, title: str, columns: list[str], rows: list[list[Any]]) -> None:
        for frame in table_frames(title, columns, rows):
            self.conn.send_frame(frame)

    def on_who(self, msg: protocol.Who) -> None:
        names = self.hub.online_names()
        self.send_table(f"{len(names)} players online", ["name"], [[n] for n in names])

    def on_leaders(self, msg: protocol.Leaders) -> None:
        send_leaders(self.send_table, self.hub, msg.game)

    def on_history(self, msg: protocol.History) -> None:
        name = self._need_name()
        if not self.account:
            raise Refused("not_logged_in", "history is kept for accounts: "
                          "'register NAME PASSWORD' to keep yours")
        send_history(self.send_table, self.hub, msg.limit, name)

    def on_replay(self, msg: protocol.Replay) -> None:
        send_replay(self.send_table, self.hub, msg.game_id)


# ---------------------------------------------------------------------- shared helpers
