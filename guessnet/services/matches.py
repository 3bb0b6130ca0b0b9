"""Two-player matches of any match game (``games.base``): between players of any processes, or
against the server's player.

The server owns every board: a client only says its move, and the game's rules decide.  A match
starts from an accepted invitation (``services.invitations``) or ``play GAME`` (against the
server).  Nothing here knows a game: whose move it is (one player, or both in a simultaneous
game), what is legal, what the board shows and what the server's player answers are the
``MatchState``'s and the ``MatchGame``'s.  A player in a match who disconnects loses it once the
reconnect grace period is over.

Across processes (Redis): the match lives on the inviter's process, the *host*.  A player on
another process is a ``RemoteSeat`` there: what the host sends it goes out by name through the
bus, and that player's process forwards their moves to the host (``MatchOp``); the host tells
each remote seat's process whether its player is in a match (``MatchSeat``).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable

from guessnet import wire
from guessnet.games.matchgame import MatchGame, MoveRejected
from guessnet.services.channels import Channels
from guessnet.services.control import Control, MatchOp, MatchSeat
from guessnet.services.errors import Refused
from guessnet.services.match_hosts import MatchHosts
from guessnet.services.records import Recorded
from guessnet.services.seats import (
    BOT,
    LiveMatch,
    LocalSeat,
    RemoteSeat,
    Seat,
    Seats,
    board_for,
    board_view,
    match_record,
)
from guessnet.storage.base import JSONDict


class Matches:
    """Callers (the players' sessions, ``Invitations``) use the public methods."""

    def __init__(self, seats: Seats, channels: Channels, control: Control,
                 record: Callable[[JSONDict, str], Recorded]) -> None:
        self._seats = seats
        self._channels = channels
        self._record = record  # Records.match: stored, or journaled, before it is told
        self._lock = threading.RLock()
        self._matches: dict[str, LiveMatch] = {}   # hosted here, by player name key
        self.hosts = MatchHosts(seats, control)  # local players in matches hosted elsewhere
        self._ids = itertools.count(1)
        control.on(MatchOp, self._on_op)

    # ------------------------------------------------------------------ queries

    def match_of(self, name: str) -> LiveMatch | None:
        with self._lock:
            return self._matches.get(name.casefold())

    def board_of(self, name: str) -> JSONDict | None:
        """The match ``name`` plays in, if hosted here, as the scoreboard shows it."""
        live = self.match_of(name)
        return None if live is None else board_view(live)

    def busy(self, name: str) -> bool:
        key = name.casefold()
        with self._lock:
            return key in self._matches or self.hosts.has(name)

    # ------------------------------------------------------------------ matches

    def start_match(self, game: MatchGame, x: LocalSeat, o: Seat | None) -> LiveMatch:
        """A match of ``game``: ``x`` has the first mark, ``o`` the second (None: the
        server plays it)."""
        x_name = name_of(x)
        o_name = o.name if o is not None and o.name else BOT
        live = LiveMatch(next(self._ids), game.new(x_name, o_name), {x_name: x, o_name: o})
        with self._lock:
            for name, seat in live.seats.items():
                if seat is not None:  # not the bot
                    self._matches[name.casefold()] = live
        self._seat_state(live, x, True)
        self._channels.admin_event("match", f"{live.label}: {x_name} ({game.marks[0]}) vs "
                                   f"{o_name} ({game.marks[1]})")
        self._bot_moves(live)  # a simultaneous game: the server's player chooses at once
        self._show(live, None)
        return live

    def _seat_state(self, live: LiveMatch, host_seat: LocalSeat, playing: bool) -> None:
        """Every seat's session knows whether it is in a match (remote ones through the bus)."""
        host = self._seats.owner(host_seat)
        for name, seat in live.seats.items():
            if isinstance(seat, RemoteSeat):
                owner = self._seats.locate(name) or seat.owner
                self._seats.send(owner, MatchSeat(player=name, host=host if playing else None,
                                                  game=live.rules.game.title))
            elif seat is not None:
                if playing:
                    seat.enter_match(live.rules.game.title)
                else:
                    seat.leave_match()

    def play_bot(self, player: LocalSeat, game: MatchGame) -> None:
        if self.busy(name_of(player)):
            raise Refused("busy", "finish your match first ('resign' concedes)")
        player.to_lobby()
        self.start_match(game, player, None)

    def _on_op(self, msg: MatchOp) -> None:
        """A move, resignation or departure of a remote player in a match hosted here."""
        live = self.match_of(msg.player)
        seat = live.seats.get(msg.player) if live else None
        if live is None or not isinstance(seat, RemoteSeat):
            return
        try:
            if msg.op == "move":
                self.move(seat, msg.cell)
            elif msg.op == "show":  # the player resumed on another process
                seat.owner = self._seats.locate(msg.player) or seat.owner
                self._show(live, None, only=seat)
            else:
                self.resign(seat, msg.how)
        except Refused as exc:
            seat.send(wire.Error(code=exc.code, message=str(exc)))

    def move(self, player: Seat, text: str) -> None:
        name = name_of(player)
        live = self.match_of(name)
        if live is None:
            if not isinstance(player, RemoteSeat) and self.hosts.forward(name, "move", cell=text):
                return
            raise Refused("not_playing", "you are not in a match: 'invite NAME' or 'play GAME' "
                          "starts one ('help' lists the games)")
        with self._lock:
            try:
                live.rules.move(name, text)
            except MoveRejected as exc:
                raise Refused("rejected", str(exc)) from None
            live.times.append(time.time())
            last = live.rules.moves[-1].square
            if self._bot_moves(live):
                last = live.rules.moves[-1].square
        self._show(live, last)
        if live.rules.state != "playing":
            self._finish(live)
        else:
            self._seats.publish(live)  # the new board, for every process's scoreboard

    def _bot_moves(self, live: LiveMatch) -> bool:
        """The server's player moves while it is its move; True if it did."""
        moved = False
        rules = live.rules
        while live.against_bot and rules.state == "playing" and BOT in rules.waiting_for:
            rules.move(BOT, rules.game.bot_move(rules, BOT))
            live.times.append(time.time())
            moved = True
        return moved

    def resign(self, player: Seat, how: str = "resigned") -> None:
        """``player`` concedes (or left: ``how`` says so); the other side wins."""
        name = name_of(player)
        live = self.match_of(name)
        if live is None:
            if not isinstance(player, RemoteSeat) and self.hosts.forward(name, "resign", how=how):
                return
            if how == "resigned":
                raise Refused("not_playing", "you are not in a match")
            return
        with self._lock:
            if live.rules.state != "playing":
                return
            live.rules.resign(name, how)
        self._finish(live)

    def on_hold(self, player: LocalSeat, grace: float) -> None:
        """``player`` dropped: the match opponent is told the seat is held for ``grace``
        seconds."""
        live = self.match_of(player.name or "")
        for seat in live.seats.values() if live else ():
            if seat is not None and seat is not player:
                seat.send(wire.Notice(text=f"{player.name} lost the connection; their "
                                          f"seat is held for {grace:g} s, then they lose"))

    def rebind(self, old: LocalSeat, new: LocalSeat) -> None:
        """A resumed session takes ``old``'s seat in its match."""
        with self._lock:
            for live in list(self._matches.values()):
                for name, seat in live.seats.items():
                    if seat is old:
                        live.seats[name] = new

    def hand_off(self, old: LocalSeat, claimant: str) -> tuple[str | None, str]:
        """``old``'s seat moves to session ``claimant`` on another process: a match hosted
        here reaches it there from now on.  The owner id of the process hosting the match
        (None: in no match) and the game's title, for the new process to ``adopt``."""
        name = name_of(old)
        with self._lock:
            live = self._matches.get(name.casefold())
            if live is not None and live.seats.get(name) is old:
                live.seats[name] = self._seats.remote(name, claimant)
                return f"{self._seats.owner(old).partition('/')[0]}/host", \
                    live.rules.game.title
        return self.hosts.hand_off(name), ""  # (the title: the session knows it)

    def adopt(self, player: LocalSeat, host: str, game: str) -> None:
        """``player`` took over a seat in a match hosted by ``host`` (see ``hand_off``);
        ``show`` asks the host for its board."""
        self.hosts.adopt(player, name_of(player), host, game)

    def show(self, player: LocalSeat) -> None:
        """Send ``player`` the board of their match (after a resume); a match hosted by
        another process is asked to."""
        live = self.match_of(player.name or "")
        if live is not None:
            self._show(live, None, only=player)
        elif player.name is not None:
            self.hosts.forward(player.name, "show")

    def player_left(self, player: LocalSeat, how: str) -> None:
        """Forfeit ``player``'s match (disconnect, logout)."""
        if player.name is not None:
            self.resign(player, how)

    def watch(self, watcher: LocalSeat, player: str) -> bool:
        """``watcher`` follows the match ``player`` plays here; False if there is none."""
        live = self.match_of(player)
        if live is None:
            return False
        with self._lock:
            live.watchers.append(watcher)
        watcher.send(board_for(live, None, None, None))
        return True

    def unwatch(self, watcher: LocalSeat) -> None:
        with self._lock:
            for live in {id(m): m for m in self._matches.values()}.values():
                if watcher in live.watchers:
                    live.watchers.remove(watcher)

    def _show(self, live: LiveMatch, last: int | None, only: Seat | None = None) -> None:
        for name, seat in live.seats.items():
            if seat is None or (only is not None and seat is not only):
                continue
            rtt = None if isinstance(seat, RemoteSeat) else seat.conn.rtt
            seat.send(board_for(live, name, last, rtt))
        for watcher in [] if only is not None else list(live.watchers):
            watcher.send(board_for(live, None, last, None))

    def _finish(self, live: LiveMatch) -> None:
        rules = live.rules
        with self._lock:
            for name in live.seats:
                if self._matches.get(name.casefold()) is live:
                    del self._matches[name.casefold()]
        recorded = self._record(match_record(live), live.label)
        ended = wire.MatchEnded(match_id=live.match_id, game=rules.game.name,
                                outcome=rules.result, winner=rules.winner, how=rules.how,
                                game_id=recorded.game_id)
        # Seats are freed before the end is shown: a player who reads "match ended" and at
        # once asks for another game must find itself free, also on another process (both
        # go over the same bus channel, in this order).
        host = next((s for s in live.seats.values() if not isinstance(s, RemoteSeat)
                     and s is not None), None)
        if host is not None:
            self._seat_state(live, host, False)
        for seat in [*live.seats.values(), *live.watchers]:
            if seat is not None:
                seat.send(ended)
                if recorded.note is not None:
                    seat.send(wire.Notice(text=recorded.note))
        result = f"won by {rules.winner} ({rules.how})" if rules.winner else "a draw"
        stored = f"; on record as game #{recorded.game_id} ('replay {recorded.game_id}')" \
            if recorded.game_id else "; not on record"
        self._channels.admin_event("match", f"{live.label} {rules.first} vs {rules.second}: "
                                   f"{result}{stored}")


def name_of(seat: Seat) -> str:
    """The seat's player name; a nameless session may not take part in matches."""
    if seat.name is None:
        raise Refused("no_name", "choose a name first: type a name, "
                      "'register NAME' or 'login NAME'")
    return seat.name
