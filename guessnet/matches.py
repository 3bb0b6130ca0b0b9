"""Invitations and tic-tac-toe matches between players of this process, or against the bot.

The server owns every board: a client only names a cell, and ``games.tictactoe`` decides.
An invitation lives ``INVITE_SECONDS``; it ends when answered, when it times out, or when either
side leaves, and both sides are told why.  A player in a match who disconnects loses it.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import protocol
from games.tictactoe import Match, MoveRejected, best_move
from guessnet.hub import Hub, Refused
from guessnet.logs import escape, log
from storage.base import BackendError

if TYPE_CHECKING:
    from guessnet.player import PlayerSession

INVITE_SECONDS = 30
BOT = "server"


@dataclass
class Invitation:
    inviter: PlayerSession
    invitee: PlayerSession
    expires: float


@dataclass
class LiveMatch:
    match_id: int
    rules: Match
    seats: dict[str, PlayerSession | None]  # name -> session (None: the bot)
    started: float = field(default_factory=time.time)
    times: list[float] = field(default_factory=list)

    @property
    def against_bot(self) -> bool:
        return any(s is None for s in self.seats.values())


class Matches:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._lock = threading.RLock()
        self._invites: dict[str, Invitation] = {}  # by invitee name key
        self._matches: dict[str, LiveMatch] = {}   # by player name key
        self._ids = itertools.count(1)
        threading.Thread(target=self._expire_loop, name="invitations", daemon=True).start()

    # ------------------------------------------------------------------ queries

    def match_of(self, name: str) -> LiveMatch | None:
        with self._lock:
            return self._matches.get(name.casefold())

    def busy(self, name: str) -> bool:
        return self.match_of(name) is not None

    # ------------------------------------------------------------------ invitations

    def invite(self, inviter: PlayerSession, target: str) -> None:
        me = inviter.name
        assert me is not None
        if target.casefold() == me.casefold():
            raise Refused("self_invite", "you cannot invite yourself: invite another player")
        invitee = self.hub.find_player(target)
        if invitee is None or invitee.name is None or \
                invitee.name.casefold() != target.casefold():
            exists = self.hub.backends.store.get_user(target) is not None
            raise Refused("not_online", f"{escape(target, 40)} is not online" if exists
                          else f"there is no player {escape(target, 40)!r}: 'who' lists "
                          "the players online")
        with self._lock:
            if self.busy(me):
                raise Refused("busy", "finish your match first ('resign' concedes)")
            if self.busy(invitee.name):
                raise Refused("busy", f"{invitee.name} is in a match: try again later")
            if invitee.name.casefold() in self._invites:
                raise Refused("busy", f"{invitee.name} is answering another invitation")
            self._invites[invitee.name.casefold()] = Invitation(
                inviter, invitee, time.monotonic() + INVITE_SECONDS)  # type: ignore[arg-type]
        invitee.conn.send(protocol.Invited(sender=me, seconds=INVITE_SECONDS))
        inviter.send(protocol.InviteUpdate(
            other=invitee.name, outcome="sent",
            message=f"invitation sent to {invitee.name}; waiting up to {INVITE_SECONDS} s"))
        self.hub.admin_event("invite", f"{me} invited {invitee.name} to tic-tac-toe")

    def reply(self, invitee: PlayerSession, accept: bool) -> None:
        me = invitee.name
        assert me is not None
        with self._lock:
            invitation = self._invites.pop(me.casefold(), None)
        if invitation is None:
            raise Refused("no_invite", "there is no invitation to answer")
        inviter = invitation.inviter
        if not accept:
            self._tell_end(invitation, "declined", f"{me} declined the invitation")
            return
        for session in (inviter, invitee):
            session.to_lobby()
        self._tell_end(invitation, "accepted", f"{me} accepted: {inviter.name} plays X")
        assert inviter.name is not None
        self._start(inviter, invitee)

    def _tell_end(self, invitation: Invitation, outcome: str, message: str) -> None:
        for session, other in ((invitation.inviter, invitation.invitee),
                               (invitation.invitee, invitation.inviter)):
            session.send(protocol.InviteUpdate(other=other.name or "?", outcome=outcome,
                                               message=message))
        self.hub.admin_event("invite", message)

    def _expire_loop(self) -> None:
        while not self.hub.stopped.wait(0.5):
            now = time.monotonic()
            with self._lock:
                expired = [k for k, inv in self._invites.items() if inv.expires <= now]
                gone = [self._invites.pop(k) for k in expired]
            for invitation in gone:
                self._tell_end(invitation, "timeout", f"{invitation.invitee.name} did not "
                               f"answer within {INVITE_SECONDS} s: invitation cancelled")

    # ------------------------------------------------------------------ matches

    def _start(self, x: PlayerSession, o: PlayerSession | None) -> LiveMatch:
        assert x.name is not None
        o_name = o.name if o is not None and o.name else BOT
        live = LiveMatch(next(self._ids), Match(x=x.name, o=o_name), {x.name: x, o_name: o})
        with self._lock:
            for name, session in live.seats.items():
                if session is not None:
                    self._matches[name.casefold()] = live
        for session in live.seats.values():
            if session is not None:
                session.mode = "tictactoe"
                self.hub.publish_presence(session)
        self.hub.admin_event("match", f"tic-tac-toe match #{live.match_id}: {x.name} (X) vs "
                             f"{o_name} (O)")
        self._show(live, None)
        return live

    def play_bot(self, player: PlayerSession) -> None:
        assert player.name is not None
        if self.busy(player.name):
            raise Refused("busy", "finish your match first ('resign' concedes)")
        player.to_lobby()
        self._start(player, None)

    def move(self, player: PlayerSession, cell: str) -> None:
        assert player.name is not None
        live = self.match_of(player.name)
        if live is None:
            raise Refused("not_playing", "you are not in a tic-tac-toe match: 'invite NAME' or "
                          "'play tictactoe'")
        with self._lock:
            try:
                live.rules.move(player.name, cell)
            except MoveRejected as exc:
                raise Refused("rejected", str(exc)) from None
            live.times.append(time.time())
            last = live.rules.moves[-1].cell
            if live.rules.state == "playing" and live.against_bot:
                reply = best_move(live.rules.board, live.rules.mark_of(BOT))
                live.rules.move(BOT, str(reply))
                live.times.append(time.time())
                last = reply
        self._show(live, last)
        if live.rules.state != "playing":
            self._finish(live)

    def resign(self, player: PlayerSession, how: str = "resigned") -> None:
        """``player`` concedes (or left: ``how`` says so); the other side wins."""
        assert player.name is not None
        live = self.match_of(player.name)
        if live is None:
            if how == "resigned":
                raise Refused("not_playing", "you are not in a tic-tac-toe match")
            return
        with self._lock:
            if live.rules.state != "playing":
                return
            live.rules.resign(player.name, how)
        self._finish(live)

    def on_hold(self, player: PlayerSession, grace: float) -> None:
        """``player`` dropped: their invitations are cancelled, and the match opponent is told
        the seat is held for ``grace`` seconds."""
        self._cancel_invites(player)
        live = self.match_of(player.name or "")
        for session in live.seats.values() if live else ():
            if session is not None and session is not player:
                session.send(protocol.Notice(text=f"{player.name} lost the connection; their "
                                             f"seat is held for {grace:g} s, then they lose"))

    def rebind(self, old: PlayerSession, new: PlayerSession) -> None:
        """A resumed session takes ``old``'s seat in its match and its invitations."""
        with self._lock:
            for live in list(self._matches.values()):
                for name, session in live.seats.items():
                    if session is old:
                        live.seats[name] = new
            for invitation in self._invites.values():
                if invitation.inviter is old:
                    invitation.inviter = new
                if invitation.invitee is old:
                    invitation.invitee = new

    def show(self, player: PlayerSession) -> None:
        """Send ``player`` the board of their match (after a resume)."""
        live = self.match_of(player.name or "")
        if live is not None:
            self._show(live, None, only=player)

    def player_left(self, player: PlayerSession, how: str) -> None:
        """Cancel ``player``'s invitations and forfeit their match (disconnect, logout)."""
        if player.name is None:
            return
        self._cancel_invites(player)
        self.resign(player, how)

    def _cancel_invites(self, player: PlayerSession) -> None:
        key = (player.name or "").casefold()
        with self._lock:
            mine = [k for k, inv in self._invites.items()
                    if k == key or inv.inviter is player]
            gone = [self._invites.pop(k) for k in mine]
        for invitation in gone:
            self._tell_end(invitation, "cancelled",
                           f"{player.name} left: invitation cancelled")

    def _show(self, live: LiveMatch, last: int | None,
              only: PlayerSession | None = None) -> None:
        rules = live.rules
        for name, session in live.seats.items():
            if session is None or (only is not None and session is not only):
                continue
            rtt = session.conn.rtt
            session.send(protocol.Board(
                match_id=live.match_id, x=rules.x, o=rules.o, board=rules.board, turn=rules.turn,
                you=rules.mark_of(name), last=last,
                rtt_ms=round(rtt * 1000, 1) if rtt is not None else None))

    def _finish(self, live: LiveMatch) -> None:
        rules = live.rules
        with self._lock:
            for name in live.seats:
                if self._matches.get(name.casefold()) is live:
                    del self._matches[name.casefold()]
        game_id = None
        try:
            game_id = self.hub.backends.store.save_game(match_record(self.hub, live))
        except BackendError as exc:
            log("ERROR", f"could not store match #{live.match_id}: {escape(exc)}")
        ended = protocol.MatchEnded(match_id=live.match_id, outcome=rules.state,
                                    winner=rules.winner, how=rules.how, game_id=game_id)
        for session in live.seats.values():
            if session is not None:
                session.send(ended)
                session.mode = None
                self.hub.publish_presence(session)
        result = f"won by {rules.winner} ({rules.how})" if rules.winner else "a draw"
        self.hub.admin_event("match", f"tic-tac-toe match #{live.match_id} {rules.x} vs "
                             f"{rules.o}: {result}")


def match_record(hub: Hub, live: LiveMatch) -> dict[str, Any]:
    rules = live.rules
    counts = {name: sum(1 for m in rules.moves if m.player == name) for name in live.seats}
    results = [{"player": name, "board": "tictactoe", "won": name == rules.winner,
                "tries": counts[name]}
               for name, session in live.seats.items()
               if session is not None and hub.backends.store.get_user(name) is not None]
    return {
        "game": "tictactoe", "mode": "bot" if live.against_bot else "match", "room": None,
        "started": live.started, "ended": time.time(), "players": [rules.x, rules.o],
        "moves": [{"at": at, "player": m.player, "move": m.cell, "result": m.mark}
                  for m, at in zip(rules.moves, live.times, strict=False)],
        "outcome": rules.state, "winner": rules.winner, "how": rules.how, "results": results,
    }
