"""Finished guessing rounds: stored (or journaled), counted and told to the admins, in one place.

Every round that ends (a win, everyone out of tries, the last tries-left player leaving or
losing their connection) goes through ``Records.round``, whichever session or sweep ended it,
before anyone is told it ended.  When the store cannot take it, the round goes to the local
journal and is written to the store when it is back (``replay``, every few seconds and before a
restarted process serves); only when the journal cannot be written either is a round not
recorded, and then the players and the admins are told so, with the cause.
"""

from __future__ import annotations

import collections
import threading
import traceback
from dataclasses import dataclass

from guessnet.games.guess import FinishedRound
from guessnet.services.channels import Channels
from guessnet.services.journal import Journal, JournalError
from guessnet.services.metrics import Metrics
from guessnet.services.registry import Registry
from guessnet.services.rounds import guess_record, with_results
from guessnet.services.ticker import Ticker
from guessnet.storage.base import BackendError, Counters, JSONDict, Store
from guessnet.support.logs import escape, log

REPLAY_SECONDS = 5.0


@dataclass(frozen=True)
class Recorded:
    """What became of a finished round: its game id once stored, and what to tell players
    when it could not be stored now (None: nothing to say)."""

    game_id: int | None
    note: str | None = None


@dataclass
class _Waiting:
    """A record waiting for its turn to be written, and then what became of it."""

    record: JSONDict
    what: str
    room: str | None
    recorded: Recorded | None = None


class Records:
    """Callers use ``round`` and ``replay``; ``start`` replays the journal every few seconds
    (a thread), ``close`` stops it."""

    def __init__(self, store: Store, counters: Counters, registry: Registry,
                 channels: Channels, journal: Journal, metrics: Metrics) -> None:
        self._store = store
        self._metrics = metrics
        self._counters = counters
        self._registry = registry
        self._channels = channels
        self.journal = journal
        self._order = threading.Lock()  # store-or-journal, and replay: one at a time
        self._waiting: collections.deque[_Waiting] = collections.deque()
        self._ticker = Ticker("journal", REPLAY_SECONDS, self._replay_quietly)

    def start(self) -> None:
        self._replay_quietly()  # a restarted process replays before it serves
        self._ticker.start()

    def close(self) -> None:
        self._ticker.close()

    def round(self, finished: FinishedRound) -> Recorded:
        """Store (or journal) a finished round, count it, tell the admins."""
        where = f"room {finished.room}" if finished.mode == "multi" else "single game"
        self._count(finished)
        record = guess_record(finished)
        room = finished.room if finished.mode == "multi" else None
        self._metrics.rounds.inc(finished.outcome)
        recorded = self._record(record, f"round {finished.round} of {where}", room)
        if finished.winner is not None:
            text = (f"round {finished.round} in {where} won by {finished.winner} "
                    f"(the number was {finished.secret})")
        elif finished.outcome == "stopped":
            text = (f"round {finished.round} in {where} ended by the host (the number was "
                    f"{finished.secret})")
        else:
            text = f"round {finished.round} in {where}: nobody guessed {finished.secret}"
        self._channels.admin_event("round_ended", text, room=room, name=finished.winner)
        return recorded

    def match(self, record: JSONDict, what: str) -> Recorded:
        """Store (or journal) a finished match's record (``seats.match_record``)."""
        return self._record(record, what, None)

    def _record(self, record: JSONDict, what: str, room: str | None) -> Recorded:
        """Store ``record``, or journal it if the store fails (within its deadline) or games
        wait in the journal already: games reach the store in the order recorded (a player's
        and a room's in the order they ended), and those queued behind a store that waits out
        a lock are journaled as soon as it gives up (the lock orders them).

        A group commit: records that arrive while another is being written wait for the
        turn together, and whichever of their threads gets it first writes them all, in
        order, in one transaction (``save_games``); the others find theirs written.  One
        game alone is written as before; under load a commit's cost is shared (five games
        a transaction cost SQLite a third of five transactions) and the threads behind it
        do not each wait for a commit of their own."""
        waiting = _Waiting(record, what, room)
        self._waiting.append(waiting)  # (a deque: no lock)
        with self._order:
            if waiting.recorded is None:  # not written by the thread before: write all
                self._write_waiting()
        if waiting.recorded is None:  # (every batch ends with each record written or kept)
            raise RuntimeError(f"{what}: neither stored nor journaled")
        return waiting.recorded

    def _write_waiting(self) -> None:
        """Write every record waiting, in order, with ``_order`` held."""
        batch: list[_Waiting] = []
        while self._waiting:
            batch.append(self._waiting.popleft())
        if self._journal_waits():
            self._journal_all(batch, BackendError("earlier games are still waiting in the "
                                                  "journal"))
            return
        try:
            ids = self._store.save_games([with_results(self._store, waiting.record)
                                          for waiting in batch])
        except BackendError as exc:
            self._journal_all(batch, exc)
            return
        except Exception as exc:  # a bug of ours: the games are kept all the same
            log("ERROR", f"storing {len(batch)} games crashed: "
                f"{escape(traceback.format_exc(), 4000)}")
            self._journal_all(batch, BackendError(f"the store crashed: {exc}"))
            return
        for waiting, game_id in zip(batch, ids, strict=True):
            waiting.recorded = Recorded(game_id)
        self._metrics.games_stored.inc(amount=len(batch))

    def _journal_all(self, batch: list[_Waiting], cause: BackendError) -> None:
        for waiting in batch:
            waiting.recorded = self._journal(waiting.record, waiting.what, cause, waiting.room)

    def _journal_waits(self) -> bool:
        try:
            return self.journal.pending() > 0
        except JournalError as exc:  # unreadable: the store is tried (and the error logged)
            log("ERROR", f"journal unreadable: {escape(exc)}")
            return False

    def _count(self, finished: FinishedRound) -> None:
        if finished.winner is None:
            self._counters.incr("rounds:played")
            return
        keys = ["rounds:played", "rounds:won", "correct:total",
                f"correct:user:{finished.winner.casefold()}"]
        if finished.mode == "multi":
            keys.append(f"correct:room:{finished.room}")
        winner = self._registry.find_named(finished.winner)
        if winner is not None:
            keys.append(f"correct:peer:{winner.conn.peer}")
        self._counters.incr_each(keys)

    def _journal(self, record: JSONDict, what: str, cause: BackendError,
                 room: str | None) -> Recorded:
        try:
            self.journal.append(record)
        except JournalError as failed:
            log("ERROR", f"{what} NOT recorded: the store failed ({escape(cause)}) and so did "
                f"the journal ({escape(failed)})")
            self._channels.admin_event("not_recorded", f"{what} could not be recorded: "
                                       f"{failed}", "ERROR", room=room)
            return Recorded(None, f"this result could not be recorded: {failed}")
        self._metrics.games_journaled.inc()
        log("ERROR", f"{what} journaled, the store failed: {escape(cause)}")
        self._channels.admin_event("journaled", f"{what} kept in the journal until storage "
                                   f"is back ({cause})", None, room=room)
        return Recorded(None, "storage is unavailable: this result is kept and will be "
                        "recorded as soon as storage is back")

    def replay(self) -> int:
        """Write the journal to the store, in order; return how many rounds were written
        (``BackendError`` when the store is still down, the rest staying journaled)."""
        with self._order:
            written = self.journal.replay(
                lambda record: self._store.save_game(with_results(self._store, record)))
        self._metrics.games_stored.inc(amount=written)
        return written

    def _replay_quietly(self) -> None:
        try:
            written = self.replay()
        except (BackendError, JournalError) as exc:
            log("ERROR", f"journal replay waits: {escape(exc)}")
            return
        if written:
            log("GAME", f"journal replayed: {written} games written to the store")
            self._channels.admin_event("replayed", f"{written} journaled games are now "
                                       "recorded", None)
