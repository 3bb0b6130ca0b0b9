"""The admin's export: finished rounds and matches, and the leaderboards, as two tables that
the admin client writes as CSV files (docs/PROTOCOL.md gives the columns).

``export: games`` has one row per game, oldest first: ``time`` (when it ended, the server's
local time), ``room`` (or ``single``, ``match``, ``bot``), ``round`` (rooms' rounds), ``game``
(``guess`` or a match game), ``players``, ``tries used`` (each player's, ``name 3; other 2``),
``winner``, ``number`` (the secret of a guessing round).  ``export: leaders`` has one row per
player and board: ``board``, ``rank``, ``player``, ``wins``, ``played``, ``best``, ``win rate``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from guessnet import wire
from guessnet.games import catalog
from guessnet.sessions.host_moderation import Host, tell_admins
from guessnet.sessions.session import HandlerTable
from guessnet.storage.base import JSONDict
from guessnet.support.logs import clock_text

MOST_GAMES = 50_000
LEADERS = 1000  # players per board
GAME_COLUMNS = ["time", "room", "round", "game", "players", "tries used", "winner", "number"]
LEADER_COLUMNS = ["board", "rank", "player", "wins", "played", "best", "win rate"]


def game_row(record: JSONDict) -> list[Any]:
    tries = Counter(str(move["player"]) for move in record.get("moves", ()))
    players = [str(p) for p in record.get("players", ())]
    return [clock_text(float(record["ended"])), record.get("room") or record["mode"],
            record.get("round", ""), record["game"], "; ".join(players),
            "; ".join(f"{p} {tries[p]}" for p in players if tries[p]),
            record.get("winner") or "", record.get("secret", "")]


def on_export(host: Host, msg: wire.Export) -> None:
    store = host.services.store
    games = store.games_since(msg.since or 0.0, msg.room, MOST_GAMES)
    host.send_table("export: games", GAME_COLUMNS, [game_row(g) for g in games])
    rows = [[board, rank, r.player, r.wins, r.played, r.best if r.best is not None else "",
             f"{r.win_rate:.0%}"] for board in catalog.boards()
            for rank, r in enumerate(store.leaders(board, LEADERS), 1)]
    host.send_table("export: leaders", LEADER_COLUMNS, rows)
    tell_admins(host, "export", f"{len(games)} games and {len(rows)} leaderboard rows exported")
    more = "; more ended before: narrow it with --since" if len(games) == MOST_GAMES else ""
    host.send(wire.Ok(message=f"exported {len(games)} games and {len(rows)} leaderboard "
                      f"rows{more}"))


HANDLERS: HandlerTable = {wire.Export: on_export}
