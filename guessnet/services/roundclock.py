"""Round time: a room's round ends for everyone when its clock runs out.

A round's clock starts at its first guess (``games.guess``).  Every second, each process looks
at the rooms it has members in and ends the rounds whose time is up: the round is recorded,
then announced as ``timeout`` with its secret, like any other end.  Several processes with
members in the same room end it once: the room transaction ends a round only if it is still
running and out of time.

The same tick sends the room updates a room held back (``Rooms.tell_soon``) once the oldest
has waited ``GATHER``, when nothing the room broadcast sent them before.
"""

from __future__ import annotations

from guessnet.services.channels import Channels
from guessnet.services.rooms import GATHER, Rooms
from guessnet.services.ticker import Ticker
from guessnet.storage.base import BackendError, Transition
from guessnet.support.logs import escape, log

TICK = 1.0  # seconds: how late after its deadline a round may end


class RoundClock:
    """Callers use ``check`` (or ``start``/``close`` for the periodic one)."""

    def __init__(self, rooms: Rooms, channels: Channels, interval: float = TICK) -> None:
        self._rooms = rooms
        self._channels = channels
        self._ticker = Ticker("round-clock", interval, self.check)

    def start(self) -> None:
        self._ticker.start()

    def close(self) -> None:
        self._ticker.close()

    def check(self) -> None:
        """End every round, in a room this process has members in, whose time is up; send
        the updates such a room held back long enough."""
        local = {c.removeprefix("room:") for c, m in
                 self._channels.local_members("room:").items() if m}
        if not local:
            return
        now = self._rooms.clock()
        try:
            live_here = [live for live in self._rooms.live_rooms() if live.name in local]
        except BackendError as exc:
            log("ERROR", f"round clock: {escape(exc)}")
            return
        due = [live.name for live in live_here if (deadline := live.deadline(now)) is not None
               and deadline <= now and not live.paused]
        for live in live_here:
            if live.held and now - live.held[0][0] >= GATHER:
                try:  # (a transaction that changes nothing: the held ones go out)
                    self._rooms.transact(live.name, lambda _: Transition(None))
                except BackendError as exc:
                    log("ERROR", f"room updates of {escape(live.name)}: {escape(exc)}")
        for room in due:
            try:
                finished = self._rooms.expire(room)
                if finished is not None:
                    log("GAME", f"round {finished.round} in room {escape(room)}: time is up")
                    self._rooms.end_round(room, finished)
            except BackendError as exc:
                log("ERROR", f"end round in room {escape(room)}: {escape(exc)}")
