"""Finished guessing rounds: stored, counted and told to the admins, in one place.

Every round that ends (a win, everyone out of tries, the last tries-left player leaving or
losing their connection) goes through ``Records.round``, whichever session or sweep ended it.
"""

from __future__ import annotations

from games.guess import FinishedRound
from guessnet.channels import Channels
from guessnet.guessing import guess_record
from guessnet.logs import escape, log
from guessnet.registry import Registry
from storage.base import BackendError, Counters, Store


class Records:
    """Callers use ``round``."""

    def __init__(self, store: Store, counters: Counters, registry: Registry,
                 channels: Channels) -> None:
        self._store = store
        self._counters = counters
        self._registry = registry
        self._channels = channels

    def round(self, finished: FinishedRound) -> int | None:
        """Store a finished round, count it, tell the admins; return its game id (None when
        the store could not take it: that is logged with its cause)."""
        counters = self._counters
        counters.incr("rounds:played")
        where = f"room {finished.room}" if finished.mode == "multi" else "single game"
        if finished.winner is not None:
            counters.incr("rounds:won")
            counters.incr("correct:total")
            counters.incr(f"correct:user:{finished.winner.casefold()}")
            if finished.mode == "multi":
                counters.incr(f"correct:room:{finished.room}")
            winner = self._registry.find_named(finished.winner)
            if winner is not None:
                counters.incr(f"correct:peer:{winner.conn.peer}")
            text = (f"round {finished.round} in {where} won by {finished.winner} "
                    f"(the number was {finished.secret})")
        else:
            text = f"round {finished.round} in {where}: nobody guessed {finished.secret}"
        game_id: int | None = None
        try:
            game_id = self._store.save_game(guess_record(self._store, finished))
        except BackendError as exc:
            log("ERROR", f"could not store round {finished.round} of {where}: {escape(exc)}")
        self._channels.admin_event("round_ended", text, room=finished.room
                                   if finished.mode == "multi" else None, name=finished.winner)
        return game_id
