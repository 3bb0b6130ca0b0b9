"""Live guessing rooms: new rounds, secret draws, transactions, and resync after a reconnect."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Protocol

import protocol
from games.guess import GuessRoom, Mode, Rules
from guessnet.channels import Channels
from guessnet.logs import escape, log
from storage.base import BackendError, RoomStore, T, Transition


class SecretSource(Protocol):
    """Where secrets come from: ``below(n)`` is uniform in ``0 .. n-1``."""

    def below(self, n: int) -> int: ...


class SecretDraws:
    """Uniform secrets from the operating system's CSPRNG, read 4 KiB at a time.

    ``secrets.randbelow`` makes one ``getrandom`` system call per secret, which releases and
    retakes the GIL; the guess path drew one per guess (the next round's secret).  This draws
    the same way (``k`` random bits, rejected when out of range) from a buffer of
    ``os.urandom`` bytes that is never reused."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffer = b""
        self._at = 0

    def below(self, n: int) -> int:
        if n <= 0:
            raise ValueError("the range must not be empty")
        bits = max(1, (n - 1).bit_length())
        size = (bits + 7) // 8
        with self._lock:
            while True:
                if self._at + size > len(self._buffer):
                    self._buffer, self._at = os.urandom(4096), 0
                chunk = self._buffer[self._at:self._at + size]
                self._at += size
                value = int.from_bytes(chunk, "big") >> (size * 8 - bits)
                if value < n:
                    return value


class Rooms:
    """Callers use ``new_room``, ``draw_secret``, ``live_rooms``, ``transact`` and ``resync``."""

    def __init__(self, store: RoomStore, rules: Rules, channels: Channels,
                 secrets: SecretSource, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self.rules = rules
        self._channels = channels
        self._secrets = secrets
        self.clock = clock

    def new_room(self, name: str, mode: Mode) -> GuessRoom:
        return GuessRoom(name=name, mode=mode, rules=self.rules, secret=self.draw_secret(),
                         started=self.clock())

    def draw_secret(self) -> int:
        return self.rules.low + self._secrets.below(self.rules.high - self.rules.low + 1)

    def live_rooms(self) -> list[GuessRoom]:
        return list(self._store.rooms())

    def transact(self, room: str, change: Callable[[GuessRoom], Transition[T]]) -> T:
        return self._store.transact(room, lambda: self.new_room(room, "multi"), change)

    def resync(self) -> None:
        """After the bus reconnected: messages may have been lost, so re-read every room this
        process has members in, put the members back if the room forgot them, and resend each
        its round."""
        rooms = self._channels.local_members("room:")
        for channel, local in rooms.items():
            room = channel.removeprefix("room:")
            names = [m.name for m in local if m.name]

            def rejoin(live: GuessRoom, names: list[str] = names,
                       ) -> Transition[tuple[int, dict[str, int]]]:
                for name in names:
                    live.join(name)
                return Transition(value=(live.round, {n: live.tries_used(n) for n in names}))

            try:
                round_number, used = self.transact(room, rejoin)
            except BackendError as exc:
                log("ERROR", f"resync room {escape(room)}: {escape(exc)}")
                continue
            rules = self.rules
            for member in local:
                if member.name:
                    member.conn.send(protocol.RoundStarted(
                        mode="multi", room=room, round=round_number, low=rules.low,
                        high=rules.high, tries=rules.tries,
                        tries_used=used.get(member.name, 0)))
        log("CONNECTION", f"bus reconnected: {len(rooms)} rooms resynchronised")
