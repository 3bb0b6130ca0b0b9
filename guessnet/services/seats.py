"""Who sits at a match or an invitation, and the history record of a match."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from guessnet import wire
from guessnet.games.matchgame import MatchGame, MatchState
from guessnet.services.channels import Channels
from guessnet.services.control import Control, ControlMessage, split_owner
from guessnet.services.registry import Member, Registry
from guessnet.storage.base import JSONDict

BOT = "server"


LocalSeat = Member  # a player session of this process, as matches see it


@dataclass
class RemoteSeat:
    """A player connected to another process, reached by name."""

    name: str
    owner: str  # where their process listens (instance/connection)
    deliver: Callable[[str, wire.Message], bool]

    def send(self, msg: wire.Message) -> None:
        self.deliver(self.name, msg)


Seat = LocalSeat | RemoteSeat


@dataclass
class Invitation:
    inviter: Seat
    invitee: Seat
    expires: float
    game: MatchGame


@dataclass
class LiveMatch:
    match_id: int
    rules: MatchState
    seats: dict[str, Seat | None]  # name -> seat (None: the bot)
    started: float = field(default_factory=time.time)
    times: list[float] = field(default_factory=list)
    watchers: list[LocalSeat] = field(default_factory=list)  # following it, not playing

    @property
    def against_bot(self) -> bool:
        return any(s is None for s in self.seats.values())

    @property
    def label(self) -> str:
        """How logs and admins name it: ``connect-four match #3``."""
        return f"{self.rules.game.title} match #{self.match_id}"


def board_for(live: LiveMatch, you: str | None, last: int | None,
              rtt: float | None) -> wire.Board:
    """The board of ``live`` as the player of mark ``you`` sees it (None: a watcher)."""
    rules, game = live.rules, live.rules.game
    return wire.Board(
        match_id=live.match_id, game=game.name, x=rules.first, o=rules.second,
        board=rules.board, rows=game.rows, columns=game.columns, turn=rules.turn,
        waiting=rules.waiting_for, you=rules.mark_of(you) if you is not None else None,
        last=last, rtt_ms=round(rtt * 1000, 1) if rtt is not None else None)


def board_view(live: LiveMatch) -> JSONDict:
    """The match as the scoreboard shows it."""
    rules, game = live.rules, live.rules.game
    return {"id": live.match_id, "game": game.name, "title": game.title, "rows": game.rows,
            "columns": game.columns, "x": rules.first, "o": rules.second,
            "board": rules.board, "turn": rules.turn}


def match_record(live: LiveMatch) -> dict[str, Any]:
    """The history record of a finished match, keyed like a round (``records.with_results``
    adds the results of the seated accounts)."""
    rules = live.rules
    return {
        "game": rules.game.name, "mode": "bot" if live.against_bot else "match", "room": None,
        "key": f"{live.started!r}/match/{rules.first}/{rules.second}",
        "started": live.started, "ended": time.time(), "players": [rules.first, rules.second],
        "seated": [name for name, seat in live.seats.items() if seat is not None],
        "moves": [{"at": at, "player": m.player, "move": m.square, "result": m.mark}
                  for m, at in zip(rules.moves, live.times, strict=False)],
        "outcome": rules.state, "winner": rules.winner, "how": rules.how,
    }


class Seats:
    """How matches and invitations find and reach players: local sessions by name, players
    of other processes through the bus."""

    def __init__(self, registry: Registry, channels: Channels, control: Control) -> None:
        self._registry = registry
        self._channels = channels
        self._control = control

    def publish(self, live: LiveMatch) -> None:
        """Write the presence entries of ``live``'s players seated here (they carry the
        board of a match hosted here)."""
        for seat in live.seats.values():
            if seat is not None and not isinstance(seat, RemoteSeat):
                self._registry.publish_presence(seat)

    def local(self, name: str) -> LocalSeat | None:
        return self._registry.find_named(name)

    def remote(self, name: str, owner: str) -> RemoteSeat:
        return RemoteSeat(name, owner, self._channels.deliver_to)

    def owner(self, seat: LocalSeat) -> str:
        return self._registry.owner(seat)

    def locate(self, name: str) -> str | None:
        """The owner id of ``name``'s session on any process, or None."""
        return self._registry.locate(name)

    def send(self, owner: str, msg: ControlMessage) -> None:
        """Send ``msg`` to the process of session ``owner`` (a bus outage is logged)."""
        self._control.try_send(split_owner(owner)[0], msg)
