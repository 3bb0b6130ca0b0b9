"""The scoreboard: what the big screen shows, built from the shared state, pushed when it changes.

``snapshot`` is pure: rooms, sessions, recent games and leaderboards in, one JSON-ready dict
out, holding only names, numbers and boards (never an address or a token: the page is public).
``Scoreboard`` reads the shared backends (so that with several processes on Redis every page
shows the whole game) twice a second, only while a page is watching, and wakes the watchers
when the snapshot changed; games and leaderboards are re-read only when a game was stored.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from guessnet.games import catalog
from guessnet.games.guess import GuessRoom
from guessnet.services.registry import Registry
from guessnet.services.rooms import Rooms
from guessnet.storage.base import BackendError, JSONDict, LeaderRow, Store
from guessnet.support.logs import escape, log

REFRESH = 0.5  # seconds between two looks at the shared state while a page watches
WINNERS = 8    # room rounds shown in "last rounds"
LEADERS = 5    # players per leaderboard


def room_view(live: GuessRoom, now: float) -> JSONDict:
    left = live.time_left(now)
    return {"name": live.name, "round": live.round, "tries": live.rules.tries,
            "time_left": None if left is None else math.ceil(left), "paused": live.paused,
            "members": [{"name": name, "used": used, "away": name in live.away}
                        for name, used in live.tries.items()]}


def leader_view(rows: list[LeaderRow]) -> list[JSONDict]:
    return [{"player": r.player, "wins": r.wins, "played": r.played, "best": r.best}
            for r in rows]


def board_titles() -> dict[str, str]:
    """Each leaderboard's title on the page (the games' own, from the catalog)."""
    titles = {"single": "Single player", "multi": "Rooms"}
    titles.update({name: game.title.capitalize() for name, game in catalog.MATCH_GAMES.items()})
    return titles


def snapshot(rooms: list[GuessRoom], sessions: list[JSONDict], rounds: list[JSONDict],
             leaders: dict[str, list[LeaderRow]], now: float) -> JSONDict:
    """What the scoreboard shows (see the module docstring)."""
    matches: dict[tuple[str, int], JSONDict] = {}
    for session in sessions:
        match = session.get("match")
        if isinstance(match, dict):
            matches[(str(session.get("instance")), int(match["id"]))] = {
                key: match.get(key) for key in ("game", "title", "rows", "columns", "x", "o",
                                                "board", "turn")}
    return {
        "online": sum(1 for s in sessions if s.get("name")),
        "rooms": [room_view(r, now) for r in sorted(rooms, key=lambda r: r.name.casefold())
                  if r.mode == "multi"],
        "rounds": rounds,
        "leaders": {board: leader_view(rows) for board, rows in leaders.items()},
        "titles": board_titles(),
        "matches": [matches[key] for key in sorted(matches)],
    }


class Scoreboard:
    """Callers use ``watch`` (a page's stream: wait for a version newer than the last one
    seen) and ``close``; ``current`` is the last snapshot as JSON text."""

    def __init__(self, rooms: Rooms, registry: Registry, store: Store,
                 clock: Callable[[], float] = time.time) -> None:
        self._rooms, self._registry, self._store, self._clock = rooms, registry, store, clock
        self._changed = threading.Condition()
        self._version = 0
        self._text = ""
        self._watchers = 0
        self._closed = False
        self._games = -1  # games on record when the rounds and leaders were last read
        self._rounds: list[JSONDict] = []
        self._leaders: dict[str, list[LeaderRow]] = {}
        self._seen: dict[int, JSONDict] = {}  # game id -> its line in "last rounds"
        self._thread: threading.Thread | None = None

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def watch(self, seen: int, timeout: float) -> tuple[int, str] | None:
        """Wait up to ``timeout`` s for a snapshot newer than version ``seen``; return its
        version and text, or None (nothing new, or closing)."""
        with self._changed:
            self._watchers += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="scoreboard",
                                                daemon=True)
                self._thread.start()
            try:
                self._changed.wait_for(lambda: self._version > seen or self._closed, timeout)
                if self._closed or self._version <= seen:
                    return None
                return self._version, self._text
            finally:
                self._watchers -= 1

    def refresh(self) -> None:
        """Read the shared state once; wake the watchers if the snapshot changed."""
        try:
            text = json.dumps(self._read(), separators=(",", ":"), sort_keys=True)
        except BackendError as exc:
            log("ERROR", f"scoreboard: {escape(exc)}")
            return
        with self._changed:
            if text != self._text:
                self._text = text
                self._version += 1
                self._changed.notify_all()

    def _read(self) -> JSONDict:
        games = self._store.count_games()
        if games != self._games:
            self._rounds = self._recent_rounds()
            self._leaders = {board: self._store.leaders(board, LEADERS)
                             for board in catalog.boards()}
            self._games = games
        return snapshot(self._rooms.live_rooms(), self._registry.sessions(), self._rounds,
                        self._leaders, self._clock())

    def _recent_rounds(self) -> list[JSONDict]:
        rounds = []
        for game in self._store.recent_games(WINNERS * 4):
            if game.game != "guess" or game.room is None:
                continue
            line = self._seen.get(game.game_id)
            if line is None:
                record: dict[str, Any] = self._store.get_game(game.game_id) or {}
                line = {"room": game.room, "round": record.get("round"),
                        "outcome": game.outcome, "winner": game.winner,
                        "secret": record.get("secret"), "ended": game.ended}
                self._seen[game.game_id] = line
            rounds.append(line)
            if len(rounds) == WINNERS:
                break
        shown = {id(line) for line in rounds}
        self._seen = {key: line for key, line in self._seen.items() if id(line) in shown}
        return rounds

    def _run(self) -> None:
        """Refresh while someone watches (a page counts as watching for a while after its
        last wait: a stream reconnects or waits again at once)."""
        idle_since: float | None = None
        while True:
            self.refresh()
            with self._changed:
                if self._closed:
                    return
                if self._watchers:
                    idle_since = None
                elif idle_since is None:
                    idle_since = time.monotonic()
                elif time.monotonic() - idle_since > 10 * REFRESH:
                    self._thread = None
                    return
                self._changed.wait(REFRESH)
