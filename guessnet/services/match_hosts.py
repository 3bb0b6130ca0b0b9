"""The local players whose match another process hosts: where to forward their moves.

A match is hosted by the process of the player who started it (or accepted the invitation's
inviter); a player of another process takes part through the bus.  ``MatchHosts`` is that
player's process's side: the host's ``MatchSeat`` says a local player is in (or out of) a
match it hosts, ``forward`` sends the player's move, resignation or "show me the board" to the
host, and a seat resumed on another process moves with ``hand_off``/``adopt``.
"""

from __future__ import annotations

import threading
from typing import Any

from guessnet.services.control import Control, MatchOp, MatchSeat
from guessnet.services.seats import LocalSeat, Seats


class MatchHosts:
    def __init__(self, seats: Seats, control: Control) -> None:
        self._seats = seats
        self._lock = threading.Lock()
        self._hosts: dict[str, str] = {}  # local player key -> host owner
        control.on(MatchSeat, self._on_seat)

    def has(self, name: str) -> bool:
        with self._lock:
            return name.casefold() in self._hosts

    def _on_seat(self, msg: MatchSeat) -> None:
        player = self._seats.local(msg.player)
        if player is None or player.name is None:
            return
        with self._lock:
            if msg.host:
                self._hosts[player.name.casefold()] = msg.host
            else:
                self._hosts.pop(player.name.casefold(), None)
        if msg.host:
            player.enter_match(msg.game)
        else:
            player.leave_match()

    def forward(self, name: str, op: str, **fields: Any) -> bool:
        """Send ``name``'s action to the process hosting their match; False if none."""
        with self._lock:
            host = self._hosts.get(name.casefold())
        if host is None:
            return False
        self._seats.send(host, MatchOp(player=name, op=op, **fields))
        return True

    def hand_off(self, name: str) -> str | None:
        """``name``'s seat went to another process: the host of their match, if any."""
        with self._lock:
            return self._hosts.pop(name.casefold(), None)

    def adopt(self, player: LocalSeat, name: str, host: str, game: str) -> None:
        """``player`` took over a seat in a match hosted by ``host`` (see ``Matches.show``
        for its board)."""
        with self._lock:
            self._hosts[name.casefold()] = host
        player.enter_match(game)
