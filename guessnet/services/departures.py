"""Players of a dead process leave their rooms within 7/6 of the presence TTL.

A live process renews the name of each of its players (and of each seat it holds for a resume)
every ttl/3 seconds.  When a process dies, its names expire within the TTL.  Every process sweeps
the live rooms every ttl/6 seconds: a member whose name no live session holds anywhere is taken
out of the round, the room is told ``NAME`` was ``lost``, and a round that this ends (everyone
left has used every try) ends at once and is recorded.  Several processes sweeping the same room
take a member out once: the room transaction removes a member only if still there.  One room
that cannot be read or fixed is logged and skipped; the others are still cleaned.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from guessnet import wire
from guessnet.games.guess import FinishedRound, GuessRoom
from guessnet.services.channels import envelope
from guessnet.services.registry import Registry
from guessnet.services.rooms import Rooms
from guessnet.services.ticker import Ticker
from guessnet.storage.base import BackendError, Transition
from guessnet.support.logs import escape, log

STUCK_SECONDS = 15.0  # a round's end unannounced for this long was its dead process's


class Departures:
    """Callers use ``sweep`` (or ``start``/``close`` for the periodic one)."""

    def __init__(self, rooms: Rooms, registry: Registry, interval: float) -> None:
        self._rooms = rooms
        self._registry = registry
        self._ticker = Ticker("departures", interval, self.sweep)

    def start(self) -> None:
        self._ticker.start()

    def close(self) -> None:
        self._ticker.close()

    def sweep(self) -> None:
        """Take every member whose name nobody holds any more out of their room."""
        try:
            rooms = self._rooms.live_rooms()
            gone = {room.name: [n for n in room.players if not self._registry.name_online(n)]
                    for room in rooms if room.mode == "multi"}
            now = self._rooms.clock()
        except BackendError as exc:  # nothing can be told apart now: try again next beat
            log("ERROR", f"sweep for lost players: {escape(exc)}")
            return
        for live in rooms:  # an end never announced: its process died recording it
            if live.round > live.announced + 1 and now - live.started >= STUCK_SECONDS:
                self._guarded(f"unstick room {live.name}",
                              partial(self._rooms.unblock, live.name, STUCK_SECONDS))
        for room, names in gone.items():
            for name in names:
                self._guarded(f"take {name} out of room {room}", partial(self._lose, room, name))

    @staticmethod
    def _guarded(what: str, step: Callable[[], object]) -> None:
        """One room's step; whatever goes wrong with it is logged, and the sweep goes on."""
        try:
            step()
        except Exception as exc:
            log("ERROR", f"{escape(what)}: {type(exc).__name__}: {escape(exc)}; skipped")

    def _lose(self, room: str, name: str) -> None:
        now = self._rooms.clock()

        def lose(live: GuessRoom) -> Transition[FinishedRound | None]:
            if name not in live.players:
                return Transition(None)  # another process was quicker
            finished = live.leave(name, now, self._rooms.draw_secret(live.upcoming_rules))
            update = wire.RoomUpdate(room=room, name=name, event="lost")
            return Transition(finished, broadcasts=[envelope(update)])

        finished = self._rooms.transact(room, lose)
        log("GAME", f"{escape(name)} lost connection: taken out of room {escape(room)}")
        if finished is not None:
            self._rooms.end_round(room, finished)
