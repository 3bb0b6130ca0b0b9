"""Which games the server offers: the leaderboards there are, one per game (or mode)."""

from __future__ import annotations

BOARDS = ("single", "multi", "tictactoe")  # a leaderboard per guessing mode and match game
