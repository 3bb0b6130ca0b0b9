"""Chat text and the listings (leaders, history, replay) players, admins and ``--replay``
share; they need only the ``Store``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from guessnet.games import catalog
from guessnet.games.matchgame import MatchMove
from guessnet.services.errors import Refused
from guessnet.storage.base import Store
from guessnet.support.logs import clock_text, escape
from guessnet.wire.tables import counted

SendTable = Callable[[str, list[str], list[list[Any]]], None]


def send_leaders(send_table: SendTable, store: Store, game: str | None) -> None:
    boards = catalog.boards()
    if game is not None and game not in boards:
        raise Refused("bad_game", f"no leaderboard {escape(game, 16)!r}: "
                      f"choose one of {', '.join(boards)}")
    if game is not None:
        boards = (game,)
    rows = [[board, i, r.player, r.wins, r.played, r.best or "-", f"{r.win_rate:.0%}"]
            for board in boards
            for i, r in enumerate(store.leaders(board, 10), 1)]
    title = "leaders" + (f": {game}" if game else " (per game)")
    send_table(title, ["game", "#", "player", "wins", "played", "best", "win rate"], rows)


def send_history(send_table: SendTable, store: Store, limit: int, player: str | None) -> None:
    games = store.recent_games(limit, player)
    title = f"last {counted(len(games), 'game')}" + (f" of {player}" if player else "")
    send_table(title, ["id", "ended", "game", "where", "players", "outcome"], [
        [g.game_id, clock_text(g.ended), g.game, g.room or g.mode,
         ", ".join(g.players[:6]) + (" ..." if len(g.players) > 6 else ""),
         f"won by {g.winner}" if g.winner else g.outcome] for g in games])


def send_replay(send_table: SendTable, store: Store, game_id: int) -> None:
    record = store.get_game(game_id)
    if record is None:
        raise Refused("not_found", f"no game #{game_id}: 'history' lists the games on record")
    where = record.get("room") or record["mode"]
    outcome = f"won by {record['winner']}" if record.get("winner") else record["outcome"]
    secret = f", the number was {record['secret']}" if "secret" in record else ""
    title = (f"game #{game_id}: {record['game']} ({where}), {clock_text(record['started'])} to "
             f"{clock_text(record['ended'])}, {outcome}{secret}")
    moves = record["moves"]
    rows = [[i, time.strftime("%H:%M:%S", time.localtime(m["at"])), m["player"], m["move"],
             m["result"]] for i, m in enumerate(moves, 1)]
    game = catalog.match_game(str(record["game"])) if record["game"] != "guess" else None
    if game is not None:  # the board after each move, row by row
        played = [MatchMove(str(m["player"]), str(m["result"]), int(m["move"]))
                  for m in moves if isinstance(m.get("move"), int)]
        for row, move, board in zip(rows, played, game.boards_after(played), strict=False):
            row[3] = game.move_text(move.square)
            row.append("|".join(board[r * game.columns:(r + 1) * game.columns].replace(" ", ".")
                                for r in range(game.rows)))
        send_table(title, ["#", "time", "player", game.move_name, "mark", "board after"], rows)
        return
    send_table(title, ["#", "time", "player", "move", "result"], rows)
