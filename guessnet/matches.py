"""Invitations and tic-tac-toe matches: between players of any processes, or against the bot.

The server owns every board: a client only names a cell, and ``games.tictactoe`` decides.
An invitation lives ``INVITE_SECONDS``; it ends when answered, when it times out, or when either
side leaves, and both sides are told why.  A player in a match who disconnects loses it once the
reconnect grace period is over.

Across processes (Redis): the match lives on the inviter's process, the *host*.  A player on
another process is a ``RemoteSeat`` there: what the host sends it goes out by name through the
bus, and that player's process forwards their moves to the host.  The control actions on the
instance channels are ``ttt_invite``, ``ttt_answer``, ``ttt_cancel`` (to the other side of an
invitation), ``ttt_seat`` (to a remote player's process: in a match hosted by X, or not) and
``ttt_op`` (to the host: move, resign, left).
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
from guessnet.listings import deliver_to
from guessnet.logs import escape, log
from storage.base import BackendError, JSONDict

if TYPE_CHECKING:
    from guessnet.player import PlayerSession

INVITE_SECONDS = 30
BOT = "server"


@dataclass
class RemoteSeat:
    """A player connected to another process, reached by name."""

    hub: Hub
    name: str
    owner: str  # where their process listens (instance/connection)

    def send(self, msg: protocol.Message) -> None:
        deliver_to(self.hub, self.name, msg)


@dataclass
class Invitation:
    inviter: PlayerSession | RemoteSeat
    invitee: PlayerSession | RemoteSeat
    expires: float


@dataclass
class LiveMatch:
    match_id: int
    rules: Match
    seats: dict[str, PlayerSession | RemoteSeat | None]  # name -> seat (None: the bot)
    started: float = field(default_factory=time.time)
    times: list[float] = field(default_factory=list)

    @property
    def against_bot(self) -> bool:
        return any(s is None for s in self.seats.values())


def _local(seat: object) -> bool:
    return seat is not None and not isinstance(seat, RemoteSeat)


class Matches:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._lock = threading.RLock()
        self._invites: dict[str, Invitation] = {}  # by invitee name key (either side)
        self._matches: dict[str, LiveMatch] = {}   # hosted here, by player name key
        self._hosted_elsewhere: dict[str, str] = {}  # local player key -> host owner
        self._ids = itertools.count(1)
        hub.control_handlers.update({
            "ttt_invite": self._on_remote_invite, "ttt_answer": self._on_remote_answer,
            "ttt_cancel": self._on_remote_cancel, "ttt_seat": self._on_seat,
            "ttt_op": self._on_op})
        threading.Thread(target=self._expire_loop, name="invitations", daemon=True).start()

    # ------------------------------------------------------------------ queries

    def match_of(self, name: str) -> LiveMatch | None:
        with self._lock:
            return self._matches.get(name.casefold())

    def busy(self, name: str) -> bool:
        key = name.casefold()
        with self._lock:
            return key in self._matches or key in self._hosted_elsewhere

    # ------------------------------------------------------------------ invitations

    def invite(self, inviter: PlayerSession, target: str) -> None:
        me = inviter.name
        assert me is not None
        if target.casefold() == me.casefold():
            raise Refused("self_invite", "you cannot invite yourself: invite another player")
        invitee: PlayerSession | RemoteSeat | None = None
        local = self.hub.find_player(target)
        if local is not None and local.name is not None and \
                local.name.casefold() == target.casefold():
            invitee = local  # type: ignore[assignment]
        else:
            owner = self.hub.locate(target)
            if owner is not None:
                invitee = RemoteSeat(self.hub, target, owner)
        if invitee is None:
            exists = self.hub.backends.store.get_user(target) is not None
            raise Refused("not_online", f"{escape(target, 40)} is not online" if exists
                          else f"there is no player {escape(target, 40)!r}: 'who' lists "
                          "the players online")
        with self._lock:
            if self.busy(me):
                raise Refused("busy", "finish your match first ('resign' concedes)")
            if self.busy(invitee.name or ""):
                raise Refused("busy", f"{invitee.name} is in a match: try again later")
            if (invitee.name or "").casefold() in self._invites:
                raise Refused("busy", f"{invitee.name} is answering another invitation")
            self._invites[(invitee.name or "").casefold()] = Invitation(
                inviter, invitee, time.monotonic() + INVITE_SECONDS)
        if isinstance(invitee, RemoteSeat):
            self.hub.send_remote(invitee.owner, {
                "action": "ttt_invite", "to": invitee.name, "sender": me,
                "sender_owner": self.hub.owner(inviter)})
        else:
            invitee.send(protocol.Invited(sender=me, seconds=INVITE_SECONDS))
        inviter.send(protocol.InviteUpdate(
            other=invitee.name or "?", outcome="sent",
            message=f"invitation sent to {invitee.name}; waiting up to {INVITE_SECONDS} s"))
        self.hub.admin_event("invite", f"{me} invited {invitee.name} to tic-tac-toe")

    def _on_remote_invite(self, payload: JSONDict) -> None:
        """Another process's player invites one of ours."""
        invitee = self.hub.find_player(str(payload.get("to", "")))
        inviter = RemoteSeat(self.hub, str(payload["sender"]), str(payload["sender_owner"]))
        if invitee is None or invitee.name is None:
            return
        with self._lock:
            taken = self.busy(invitee.name) or invitee.name.casefold() in self._invites
            if not taken:
                self._invites[invitee.name.casefold()] = Invitation(
                    inviter, invitee, time.monotonic() + INVITE_SECONDS)  # type: ignore[arg-type]
        if taken:
            self._answer_remote(inviter, invitee.name, False, f"{invitee.name} is busy")
            return
        invitee.conn.send(protocol.Invited(sender=inviter.name, seconds=INVITE_SECONDS))

    def _answer_remote(self, inviter: RemoteSeat, invitee: str, accept: bool,
                       message: str, invitee_owner: str = "") -> None:
        self.hub.send_remote(inviter.owner, {
            "action": "ttt_answer", "inviter": inviter.name, "invitee": invitee,
            "invitee_owner": invitee_owner, "accept": accept, "message": message})

    def reply(self, invitee: PlayerSession, accept: bool) -> None:
        me = invitee.name
        assert me is not None
        with self._lock:
            invitation = self._invites.pop(me.casefold(), None)
        if invitation is None:
            raise Refused("no_invite", "there is no invitation to answer")
        inviter = invitation.inviter
        outcome = "accepted" if accept else "declined"
        message = f"{me} accepted: {inviter.name} plays X" if accept else \
            f"{me} declined the invitation"
        if accept:
            invitee.to_lobby()
        if isinstance(inviter, RemoteSeat):  # the match will be hosted by the inviter's side
            self._answer_remote(inviter, me, accept, message, self.hub.owner(invitee))
            invitee.send(protocol.InviteUpdate(other=inviter.name, outcome=outcome,
                                               message=message))
            return
        self._tell_end(invitation, outcome, message)
        if accept:
            inviter.to_lobby()
            self._start(inviter, invitee)

    def _on_remote_answer(self, payload: JSONDict) -> None:
        """The remote invitee answered one of our players' invitations."""
        key = str(payload.get("invitee", "")).casefold()
        with self._lock:
            invitation = self._invites.get(key)
            if invitation is None or not _local(invitation.inviter):
                return
            del self._invites[key]
        inviter = invitation.inviter
        accept = bool(payload.get("accept"))
        inviter.send(protocol.InviteUpdate(other=str(payload["invitee"]),
                                           outcome="accepted" if accept else "declined",
                                           message=str(payload.get("message", ""))))
        if accept and payload.get("invitee_owner"):
            assert not isinstance(inviter, RemoteSeat)
            inviter.to_lobby()
            self._start(inviter, RemoteSeat(self.hub, str(payload["invitee"]),
                                            str(payload["invitee_owner"])))

    def _on_remote_cancel(self, payload: JSONDict) -> None:
        key = str(payload.get("invitee", "")).casefold()
        with self._lock:
            invitation = self._invites.pop(key, None)
        if invitation is not None:
            self._tell_end(invitation, str(payload.get("outcome", "cancelled")),
                           str(payload.get("message", "invitation cancelled")))

    def _tell_end(self, invitation: Invitation, outcome: str, message: str) -> None:
        """Tell both sides; a side on another process is told by its own process."""
        for seat, other in ((invitation.inviter, invitation.invitee),
                            (invitation.invitee, invitation.inviter)):
            if isinstance(seat, RemoteSeat):
                self.hub.send_remote(seat.owner, {
                    "action": "ttt_cancel", "invitee": invitation.invitee.name,
                    "outcome": outcome, "message": message})
            else:
                seat.send(protocol.InviteUpdate(other=other.name or "?", outcome=outcome,
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

    def _start(self, x: PlayerSession, o: PlayerSession | RemoteSeat | None) -> LiveMatch:
        assert x.name is not None
        o_name = o.name if o is not None and o.name else BOT
        live = LiveMatch(next(self._ids), Match(x=x.name, o=o_name), {x.name: x, o_name: o})
        with self._lock:
            for name, seat in live.seats.items():
                if seat is not None:  # not the bot
                    self._matches[name.casefold()] = live
        self._seat_state(live, True)
        self.hub.admin_event("match", f"tic-tac-toe match #{live.match_id}: {x.name} (X) vs "
                             f"{o_name} (O)")
        self._show(live, None)
        return live

    def _seat_state(self, live: LiveMatch, playing: bool) -> None:
        """Every seat's session knows whether it is in a match (remote ones through the bus)."""
        host = self.hub.owner(next(s for s in live.seats.values() if _local(s)))  # type: ignore
        for name, seat in live.seats.items():
            if isinstance(seat, RemoteSeat):
                owner = self.hub.locate(name) or seat.owner
                self.hub.send_remote(owner, {"action": "ttt_seat", "player": name,
                                             "host": host if playing else None})
            elif seat is not None:
                seat.mode = "tictactoe" if playing else None
                self.hub.publish_presence(seat)

    def _on_seat(self, payload: JSONDict) -> None:
        player = self.hub.find_player(str(payload.get("player", "")))
        if player is None or player.name is None:
            return
        with self._lock:
            if payload.get("host"):
                self._hosted_elsewhere[player.name.casefold()] = str(payload["host"])
            else:
                self._hosted_elsewhere.pop(player.name.casefold(), None)
        player.mode = "tictactoe" if payload.get("host") else None  # type: ignore[attr-defined]
        self.hub.publish_presence(player)

    def play_bot(self, player: PlayerSession) -> None:
        assert player.name is not None
        if self.busy(player.name):
            raise Refused("busy", "finish your match first ('resign' concedes)")
        player.to_lobby()
        self._start(player, None)

    def _forward(self, player: PlayerSession, op: str, **fields: Any) -> bool:
        """Send ``player``'s action to the process hosting their match; False if none."""
        with self._lock:
            host = self._hosted_elsewhere.get((player.name or "").casefold())
        if host is None:
            return False
        self.hub.send_remote(host, {"action": "ttt_op", "op": op, "player": player.name,
                                    **fields})
        return True

    def _on_op(self, payload: JSONDict) -> None:
        """A move, resignation or departure of a remote player in a match hosted here."""
        name = str(payload.get("player", ""))
        live = self.match_of(name)
        seat = live.seats.get(name) if live else None
        if not isinstance(seat, RemoteSeat):
            return
        try:
            if payload.get("op") == "move":
                self.move(seat, str(payload.get("cell", "")))
            else:
                self.resign(seat, str(payload.get("how", "resigned")))
        except Refused as exc:
            seat.send(protocol.Error(code=exc.code, message=str(exc)))

    def move(self, player: PlayerSession | RemoteSeat, cell: str) -> None:
        assert player.name is not None
        live = self.match_of(player.name)
        if live is None:
            if not isinstance(player, RemoteSeat) and self._forward(player, "move", cell=cell):
                return
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

    def resign(self, player: PlayerSession | RemoteSeat, how: str = "resigned") -> None:
        """``player`` concedes (or left: ``how`` says so); the other side wins."""
        assert player.name is not None
        live = self.match_of(player.name)
        if live is None:
            if not isinstance(player, RemoteSeat) and self._forward(player, "resign", how=how):
                return
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
        for seat in live.seats.values() if live else ():
            if seat is not None and seat is not player:
                seat.send(protocol.Notice(text=f"{player.name} lost the connection; their "
                                          f"seat is held for {grace:g} s, then they lose"))

    def rebind(self, old: PlayerSession, new: PlayerSession) -> None:
        """A resumed session takes ``old``'s seat in its match and its invitations."""
        with self._lock:
            for live in list(self._matches.values()):
                for name, seat in live.seats.items():
                    if seat is old:
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
        for name, seat in live.seats.items():
            if seat is None or (only is not None and seat is not only):
                continue
            rtt = None if isinstance(seat, RemoteSeat) else seat.conn.rtt
            seat.send(protocol.Board(
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
        # Seats are freed before the end is shown: a player who reads "match ended" and at
        # once asks for another game must find itself free, also on another process (both
        # go over the same bus channel, in this order).
        self._seat_state(live, False)
        for seat in live.seats.values():
            if seat is not None:
                seat.send(ended)
        result = f"won by {rules.winner} ({rules.how})" if rules.winner else "a draw"
        self.hub.admin_event("match", f"tic-tac-toe match #{live.match_id} {rules.x} vs "
                             f"{rules.o}: {result}")


def match_record(hub: Hub, live: LiveMatch) -> dict[str, Any]:
    rules = live.rules
    counts = {name: sum(1 for m in rules.moves if m.player == name) for name in live.seats}
    seated = [name for name, seat in live.seats.items() if seat is not None]
    accounts = hub.backends.store.accounts_among(seated)
    results = [{"player": name, "board": "tictactoe", "won": name == rules.winner,
                "tries": counts[name]} for name in seated if name in accounts]
    return {
        "game": "tictactoe", "mode": "bot" if live.against_bot else "match", "room": None,
        "started": live.started, "ended": time.time(), "players": [rules.x, rules.o],
        "moves": [{"at": at, "player": m.player, "move": m.cell, "result": m.mark}
                  for m, at in zip(rules.moves, live.times, strict=False)],
        "outcome": rules.state, "winner": rules.winner, "how": rules.how, "results": results,
    }
