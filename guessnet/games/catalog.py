"""The games the server offers: the guessing modes and the match games, one line each.

A match game is registered here by name (``register``), and from then on it can be played
against another player or the server, stored, replayed, ranked and shown, with no other
change: matches, invitations, the wire, history and both clients know games only through
``games.base``.  Each game (and each guessing mode) has its leaderboard (``boards``).
"""

from __future__ import annotations

from guessnet.games import connect4, tictactoe
from guessnet.games.matchgame import MatchGame

GUESSING_MODES = ("single", "multi")
MATCH_GAMES: dict[str, MatchGame] = {}


def register(game: MatchGame) -> None:
    """Offer ``game`` (``ValueError`` for a name taken by another game or a guessing mode)."""
    if game.name in MATCH_GAMES or game.name in GUESSING_MODES:
        raise ValueError(f"a game called {game.name!r} is registered already")
    MATCH_GAMES[game.name] = game


def match_game(name: str) -> MatchGame | None:
    return MATCH_GAMES.get(name.lower())


def boards() -> tuple[str, ...]:
    """Every leaderboard: one per guessing mode and one per match game."""
    return (*GUESSING_MODES, *MATCH_GAMES)


register(tictactoe.GAME)
register(connect4.GAME)
