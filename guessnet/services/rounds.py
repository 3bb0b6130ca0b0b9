"""Messages and history records of guessing rounds (built from ``games.guess`` results)."""

from __future__ import annotations

import math
from typing import Any

from guessnet import wire
from guessnet.games.guess import FinishedRound, GuessRoom, HintResult
from guessnet.storage.base import Store


def round_started(live: GuessRoom, name: str | None,
                  now: float | None = None) -> wire.RoundStarted:
    """The round ``live`` is playing, as ``name`` sees it (tries used), and, at ``now``, the
    time left on its clock (leave ``now`` out for a round that has just begun)."""
    rules = live.rules
    left = live.time_left(now) if now is not None else None
    return wire.RoundStarted(
        mode=live.mode, room=live.name if live.mode == "multi" else None, round=live.round,
        low=rules.low, high=rules.high, tries=rules.tries,
        tries_used=live.tries_used(name) if name else 0,
        time_limit=None if rules.seconds is None else math.ceil(rules.seconds),
        time_left=None if left is None else math.ceil(left),
        paused=live.paused)


def hint_message(hint: HintResult) -> wire.Hint:
    return wire.Hint(value=hint.value, result=hint.result, tries_used=hint.tries_used,
                         tries_left=hint.tries_left)


def round_ended(finished: FinishedRound, game_id: int | None) -> wire.RoundEnded:
    return wire.RoundEnded(
        mode=finished.mode, room=finished.room if finished.mode == "multi" else None,
        round=finished.round, outcome=finished.outcome, winner=finished.winner,
        secret=finished.secret, game_id=game_id)


def guess_record(finished: FinishedRound) -> dict[str, Any]:
    """The history record of a guessing round, keyed so that it is stored once however often
    it is written; ``with_results`` adds the leaderboard results.  The key begins with the
    start time, so that SQLite's unique index on it grows at its end, as the table does:
    keys in round order put each insert on another page of the index, which that commit and
    the next checkpoint write (about 3 us more a round's end, measured on a bare file)."""
    room = finished.room if finished.mode == "multi" else None
    return {
        "game": "guess", "mode": finished.mode, "room": room,
        "key": f"{finished.started!r}/{finished.room}/{finished.round}",
        "round": finished.round, "started": finished.started, "ended": finished.ended,
        "players": list(finished.players), "secret": finished.secret,
        "moves": [{"at": m.at, "player": m.player, "move": m.value, "result": m.result}
                  for m in finished.moves],
        "outcome": finished.outcome, "winner": finished.winner,
    }


def with_results(store: Store, record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with its leaderboard results, one per account that took part (asks the
    store which are accounts): in a round those who guessed, in a match those seated."""
    seated = record.get("seated")
    accounts = store.accounts_among(
        seated if seated is not None else {move["player"] for move in record["moves"]})
    if not accounts:  # guests only: no move to count
        return dict(record, results=[])
    moved: dict[str, int] = {name: 0 for name in seated or ()}
    for move in record["moves"]:
        moved[move["player"]] = moved.get(move["player"], 0) + 1
    if seated is not None:
        moved = {name: count for name, count in moved.items() if name in seated}
    board = record["mode"] if record["game"] == "guess" else record["game"]
    return dict(record, results=[
        {"player": player, "board": board, "won": player == record["winner"],
         "tries": count} for player, count in moved.items() if player in accounts])
