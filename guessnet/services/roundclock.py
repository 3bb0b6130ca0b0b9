"""Round time: a room's round ends for everyone when its clock runs out.

A round's clock starts at its first guess (``games.guess``).  Every second, each process looks
at the rooms it has members in and ends the rounds whose time is up: the round is recorded,
then announced as ``timeout`` with its secret, like any other end.  Several processes with
members in the same room end it once: the room transaction ends a round only if it is still
running and out of time.
"""

from __future__ import annotations

from guessnet.services.channels import Channels
from guessnet.services.rooms import Rooms
from guessnet.services.ticker import Ticker
from guessnet.storage.base import BackendError
from guessnet.support.logs import escape, log

TICK = 1.0  # seconds: how late after its deadline a round may end


class RoundClock:
    """Callers use ``check`` (or ``start``/``close`` for the periodic one)."""

    def __init__(self, rooms: Rooms, channels: Channels, interval: float = TICK) -> None:
        self._rooms = rooms
        self._channels = channels
        self._ticker = Ticker("round-clock", interval, self.check)

    def start(self) -> None:
        if self._rooms.rules.seconds is not None:
            self._ticker.start()

    def close(self) -> None:
        self._ticker.close()

    def check(self) -> None:
        """End every round, in a room this process has members in, whose time is up."""
        local = {c.removeprefix("room:") for c, m in
                 self._channels.local_members("room:").items() if m}
        if not local:
            return
        now = self._rooms.clock()
        try:
            due = [live.name for live in self._rooms.live_rooms() if live.name in local
                   and (deadline := live.deadline(now)) is not None and deadline <= now
                   and not live.paused]
        except BackendError as exc:
            log("ERROR", f"round clock: {escape(exc)}")
            return
        for room in due:
            try:
                finished = self._rooms.expire(room)
                if finished is not None:
                    log("GAME", f"round {finished.round} in room {escape(room)}: time is up")
                    self._rooms.end_round(room, finished)
            except BackendError as exc:
                log("ERROR", f"end round in room {escape(room)}: {escape(exc)}")
