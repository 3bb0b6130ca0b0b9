"""Live guessing rooms: new rounds, secret draws, transactions, and resync after a reconnect."""

from __future__ import annotations

import os
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from guessnet import wire
from guessnet.games.guess import FinishedRound, GuessRejected, GuessRoom, Mode, Rules
from guessnet.services.channels import Channels, envelope
from guessnet.services.records import Recorded
from guessnet.services.rounds import round_ended, round_started
from guessnet.storage.base import BackendError, JSONDict, RoomStore, T, Transition
from guessnet.support.logs import escape, log


class SecretSource(Protocol):
    """Where secrets come from: ``below(n)`` is uniform in ``0 .. n-1``."""

    def below(self, n: int) -> int: ...


class SecretDraws:
    """Uniform secrets from the operating system's CSPRNG, read 4 KiB at a time.

    ``secrets.randbelow`` makes one ``getrandom`` system call per secret, which releases and
    retakes the GIL; a round's end drew one (the next round's secret).  This reads
    ``os.urandom`` bytes 4 KiB at a time, never reusing any, as 64-bit words: a word under the
    largest multiple of ``n`` that fits in 64 bits gives ``word % n``, uniform; a word above
    it (a chance of ``n`` in 2**64 at most) is rejected and the next one drawn.  One word
    nearly always does, in a few bytecodes (drawing ``k`` bits at a time, as before, took a
    Python loop that ran 1.6 times on average for a range of 10).  A range wider than 64
    bits takes several words.  Each thread has its own buffer: a shared one behind a lock
    made the handler threads queue for it (a third of the GIL's samples at 50 clients)."""

    def __init__(self) -> None:
        self._local = threading.local()

    def _word(self) -> int:
        """The next unused 64-bit word of this thread's buffer."""
        local = self._local
        while True:
            try:
                return next(local.words)[0]  # type: ignore[no-any-return]
            except (AttributeError, StopIteration):  # none yet, or used up
                local.words = _WORDS.iter_unpack(os.urandom(4096))

    def below(self, n: int) -> int:
        if n <= 0:
            raise ValueError("the range must not be empty")
        if n > _WORD_VALUES:
            return self._below_wide(n)
        limit = _WORD_VALUES - _WORD_VALUES % n  # a multiple of n: below it, no bias
        while True:
            word = self._word()
            if word < limit:
                return word % n

    def _below_wide(self, n: int) -> int:
        """``below`` for a range over 64 bits: as many words as it takes, ``k`` bits kept,
        rejected when out of range."""
        bits = (n - 1).bit_length()
        words = -(-bits // 64)
        while True:
            value = 0
            for _ in range(words):
                value = value << 64 | self._word()
            value >>= words * 64 - bits
            if value < n:
                return value


_WORDS = struct.Struct("<Q")
_WORD_VALUES = 1 << 64


# seconds: a room update held back (``tell_soon``) goes out with the room's next broadcast,
# or once the oldest held has waited this long (the round clock's tick looks every second)
GATHER = 0.25
CLOCK_SKEW = 2.0  # seconds: processes' clocks may differ this much (an end resent twice is
#                   shown twice; one never resent would be missed)


@dataclass(frozen=True)
class Resync:
    """A room as a reconnected process finds it: the round on as each of its members sees it,
    and the frames of an end they may have missed."""

    started: dict[str, wire.RoundStarted]
    missed: list[bytes]


class Rooms:
    """Callers use ``new_room``, ``draw_secret``, ``live_rooms``, ``transact`` and ``resync``."""

    def __init__(self, store: RoomStore[GuessRoom], rules: Rules, channels: Channels,
                 secrets: SecretSource, record: Callable[[FinishedRound], Recorded],
                 clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._record = record  # Records.round: stored, or journaled, before it is told
        self.rules = rules
        self._channels = channels
        self._secrets = secrets
        self.clock = clock
        # A single game's rules: the server's without a round time (made once, not per join).
        self._single = rules if rules.seconds is None else replace(rules, seconds=None)

    def new_room(self, name: str, mode: Mode) -> GuessRoom:
        """A room playing its first round (single-player games have no round time)."""
        rules = self.rules if mode == "multi" else self._single
        return GuessRoom(name=name, mode=mode, rules=rules, secret=self.draw_secret(),
                         started=self.clock())

    def draw_secret(self, rules: Rules | None = None) -> int:
        """A secret within ``rules`` (the server's, unless a room's host changed them)."""
        rules = rules or self.rules
        return rules.low + self._secrets.below(rules.high - rules.low + 1)

    def live_rooms(self) -> list[GuessRoom]:
        """Every live room; one that cannot be read is logged and left out."""
        return list(self._store.rooms(skipped=self._unreadable))

    @staticmethod
    def _unreadable(room: str, exc: Exception) -> None:
        log("ERROR", f"room {escape(room)} cannot be read, skipped: "
            f"{type(exc).__name__}: {escape(exc)}")

    def transact(self, room: str, change: Callable[[GuessRoom], Transition[T]]) -> T:
        """Apply ``change`` to the room; the updates it holds back go out first in the same
        step when ``change`` broadcasts anything, or when the oldest has waited ``GATHER``."""
        clock = self.clock

        def changed(live: GuessRoom) -> Transition[T]:
            done = change(live)
            if live.held and (done.broadcasts or clock() - live.held[0][0] >= GATHER):
                msgs = [msg for _, msg in live.held]
                live.held, live.told_at = [], clock()
                return Transition(done.value, [{"msgs": msgs}, *(done.broadcasts or ())])
            return done

        return self._store.transact(room, lambda: self.new_room(room, "multi"), changed)

    def tell_soon(self, live: GuessRoom, update: wire.RoomUpdate, skip: str
                  ) -> list[JSONDict]:
        """The broadcasts that tell ``live``'s members ``update`` (in a room transaction):
        at once if none went out in the last ``GATHER`` seconds, else held back to go out with
        the next.  When a class's Wi-Fi drops, its players' ``away`` notices then cost the
        room a few passes over its members, not one each.  (Held updates go to every member:
        ``skip``'s connection is gone, and ``unhold`` takes theirs back if they return.)"""
        now = self.clock()
        if not live.held and now - live.told_at >= GATHER:
            live.told_at = now
            return [envelope(update, skip=skip)]
        live.held.append([now, update.to_dict()])
        return []

    @staticmethod
    def unhold(live: GuessRoom, name: str) -> bool:
        """Take back ``name``'s ``away`` still held (they resumed first); True if there was
        one: the room never heard they were away, so it need not hear they are back."""
        kept = [h for h in live.held if not (h[1].get("event") == "away" and
                                             h[1].get("name") == name)]
        if len(kept) == len(live.held):
            return False
        live.held = kept
        return True

    @staticmethod
    def check_announced(live: GuessRoom) -> None:
        """Refuse a guess while the end of the previous round is being recorded (its members
        have not been told yet): the guess would land in a round nobody knows started."""
        if live.round > live.announced + 1:
            raise GuessRejected(f"round {live.round - 1} in room {live.name!r} has just ended "
                                "and is being recorded: the next round starts in a moment")

    def end_round(self, room: str, finished: FinishedRound,
                  before: Sequence[JSONDict] = ()) -> None:
        """The one way a room's round ends, whoever ended it (a guess, a leave, a drop, the
        clock, a dead process): commit, then announce.  Nobody, the winner included, hears
        of the end before the round is recorded (stored, or journaled); ``before`` goes out
        first, in the same step (the winner's hint)."""
        self.announce(room, finished, self.record(finished), before)

    def record(self, finished: FinishedRound) -> Recorded:
        """Store (or journal) a round that ended; ``announce`` it afterwards."""
        return self._record(finished)

    def announce(self, room: str, finished: FinishedRound, recorded: Recorded,
                 before: Sequence[JSONDict] = ()) -> None:
        """Tell the room that ``finished`` ended (and what became of its record) and which
        round is on now; ``before`` goes out first, in the same step (the winner's hint)."""
        note = [] if recorded.note is None else [wire.Notice(text=recorded.note)]
        ended = [round_ended(finished, recorded.game_id), *note]
        now = self.clock()

        def told(live: GuessRoom) -> Transition[None]:
            live.announced = max(live.announced, finished.round)
            live.last_end = {"at": now, "msgs": [msg.to_dict() for msg in ended]}
            return Transition(None, broadcasts=[*before, envelope(
                *ended, round_started(live, None))])

        self.transact(room, told)

    def expire(self, room: str) -> FinishedRound | None:
        """End the round of ``room`` if its time has run out (and its start was announced);
        the caller records and announces the round returned."""
        now = self.clock()

        def run_out(live: GuessRoom) -> Transition[FinishedRound | None]:
            if live.round > live.announced + 1:
                return Transition(None)  # the last end is being recorded: not this round's
            return Transition(live.expire(now, self.draw_secret(live.upcoming_rules)))

        return self.transact(room, run_out)

    def unblock(self, room: str, stuck_for: float) -> bool:
        """A round's end that was never announced (its process died while recording it):
        after ``stuck_for`` seconds, let the room play on; True if it did."""
        now = self.clock()

        def release(live: GuessRoom) -> Transition[bool]:
            if live.round <= live.announced + 1 or now - live.started < stuck_for:
                return Transition(False)
            live.announced = live.round - 1
            notice = wire.Notice(text=f"the end of round {live.round - 1} in room "
                                     f"{live.name} was not announced by its server process "
                                     f"(it stopped): round {live.round} is on")
            return Transition(True, broadcasts=[envelope(notice, round_started(live, None))])

        return self.transact(room, release)

    def resync(self, lost_at: float) -> None:
        """After the bus reconnected (it was lost at ``lost_at``, wall clock): messages may
        have been lost, so re-read every room this process has members in, put the members
        back if the room forgot them, send again a round's end announced since ``lost_at``
        (a winner always learns they won), and send each member the round that is on."""
        rooms = self._channels.local_members("room:")
        now = self.clock()
        for channel, local in rooms.items():
            room = channel.removeprefix("room:")
            names = [m.name for m in local if m.name]

            def rejoin(live: GuessRoom, names: list[str] = names) -> Transition[Resync]:
                for name in names:
                    live.join(name)
                missed = live.last_end["msgs"] if live.last_end is not None and \
                    live.last_end["at"] >= lost_at - CLOCK_SKEW else []
                return Transition(Resync({n: round_started(live, n, now) for n in names},
                                         [wire.encode_built(msg) for msg in missed]))

            try:
                state = self.transact(room, rejoin)
            except BackendError as exc:
                log("ERROR", f"resync room {escape(room)}: {escape(exc)}")
                continue
            for member in local:
                if member.name:
                    for frame in state.missed:
                        member.conn.send_frame(frame)
                    member.conn.send(state.started[member.name])
        log("CONNECTION", f"bus reconnected: {len(rooms)} rooms resynchronised")
