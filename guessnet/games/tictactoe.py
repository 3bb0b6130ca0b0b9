"""Tic-tac-toe rules and a perfect opponent.

Theory of operation
-------------------
A ``Match`` is a board of nine cells, numbered 1-9 row by row::

     1 | 2 | 3          a1 | b1 | c1
     4 | 5 | 6    or    a2 | b2 | c2
     7 | 8 | 9          a3 | b3 | c3

``X`` moves first.  The match is in one of three states: ``playing`` (someone's turn),
``won`` (``winner`` set) or ``draw``.  The moves are:

* ``move(player, cell)``: in ``playing``, by the player whose turn it is, on a free cell given as
  ``1``-``9``, ``b2`` (column letter, row digit) or ``2,3`` / ``2 3`` (row, column).  Anything
  else raises ``MoveRejected`` and changes nothing.  Three in a row wins; a full board draws.
* ``resign(player)`` / ``forfeit(player)``: in ``playing``, by either player; the other wins.

``best_move`` is a minimax player (with memoised positions) that never loses.  The module does
no I/O, reads no clock and starts no threads.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Literal

LINES = ((0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6))
_ROW_COL = re.compile(r"\s*([1-3])\s*[, ]\s*([1-3])\s*")
_LETTER_ROW = re.compile(r"\s*([a-cA-C])\s*([1-3])\s*")


class MoveRejected(Exception):
    """A move the rules refuse; the message says why.  The match is unchanged."""


def parse_cell(text: str) -> int:
    """Cell index 0-8 from ``5``, ``b2`` or ``2,3``; raises ``MoveRejected`` otherwise."""
    stripped = text.strip()
    if len(stripped) == 1 and stripped in "123456789":
        return int(stripped) - 1
    if match := _ROW_COL.fullmatch(text):
        return (int(match.group(1)) - 1) * 3 + int(match.group(2)) - 1
    if match := _LETTER_ROW.fullmatch(text):
        return (int(match.group(2)) - 1) * 3 + "abc".index(match.group(1).lower())
    raise MoveRejected(f"{text[:20]!r} is not a cell: type 1-9, a column and row like b2, "
                       "or row,column like 2,3")


def winner_of(board: str) -> str | None:
    for a, b, c in LINES:
        if board[a] != " " and board[a] == board[b] == board[c]:
            return board[a]
    return None


@dataclass(frozen=True)
class TicMove:
    player: str
    mark: str
    cell: int  # 1-9


@dataclass
class Match:
    x: str
    o: str
    board: str = " " * 9
    state: Literal["playing", "won", "draw"] = "playing"
    winner: str | None = None
    how: str = ""
    moves: list[TicMove] = field(default_factory=list)

    @property
    def turn(self) -> str | None:
        """Whose move it is (a player name), None when the match is over."""
        if self.state != "playing":
            return None
        return self.x if self.board.count("X") == self.board.count("O") else self.o

    def mark_of(self, player: str) -> Literal["X", "O"]:
        if player == self.x:
            return "X"
        if player == self.o:
            return "O"
        raise MoveRejected(f"{player} is not playing in this match")

    def other(self, player: str) -> str:
        return self.o if self.mark_of(player) == "X" else self.x

    def move(self, player: str, cell_text: str) -> None:
        mark = self.mark_of(player)
        if self.state != "playing":
            raise MoveRejected("the match is over")
        if self.turn != player:
            raise MoveRejected(f"not your turn: waiting for {self.turn}")
        cell = parse_cell(cell_text)
        if self.board[cell] != " ":
            raise MoveRejected(f"cell {cell + 1} is taken: choose a free cell")
        self.board = self.board[:cell] + mark + self.board[cell + 1:]
        self.moves.append(TicMove(player=player, mark=mark, cell=cell + 1))
        if winner_of(self.board):
            self.state, self.winner, self.how = "won", player, "three in a row"
        elif " " not in self.board:
            self.state, self.how = "draw", "board full"

    @property
    def result(self) -> Literal["won", "draw"]:
        """How the finished match ended (``MoveRejected`` while it is still played)."""
        if self.state == "playing":
            raise MoveRejected("the match is still being played")
        return self.state

    def resign(self, player: str, how: str = "resigned") -> None:
        """``player`` gives up (``how``: resigned, disconnected, ...); the other one wins."""
        self.mark_of(player)
        if self.state != "playing":
            raise MoveRejected("the match is over")
        self.state, self.winner, self.how = "won", self.other(player), f"{player} {how}"


@functools.cache
def _score(board: str, to_move: str) -> int:
    """Minimax value for ``X`` (+1 win, 0 draw, -1 loss) with ``to_move`` to play."""
    won = winner_of(board)
    if won is not None:
        return 1 if won == "X" else -1
    if " " not in board:
        return 0
    nxt = "O" if to_move == "X" else "X"
    values = [_score(board[:i] + to_move + board[i + 1:], nxt)
              for i in range(9) if board[i] == " "]
    return max(values) if to_move == "X" else min(values)


def best_move(board: str, mark: str) -> int:
    """A best cell (1-9) for ``mark`` to play on ``board``: never loses.  Ties go to the
    centre, then corners, so the bot plays like a person would."""
    if winner_of(board) is not None or " " not in board:
        raise MoveRejected("the match is over")
    nxt = "O" if mark == "X" else "X"
    sign = 1 if mark == "X" else -1
    preference = (4, 0, 2, 6, 8, 1, 3, 5, 7)
    free = [i for i in preference if board[i] == " "]
    best = max(free, key=lambda i: sign * _score(board[:i] + mark + board[i + 1:], nxt))
    return best + 1


def render(board: str) -> list[str]:
    """The board as text lines, empty cells showing the number to type."""
    cells = [board[i] if board[i] != " " else str(i + 1) for i in range(9)]
    rows = [f" {cells[r * 3]} | {cells[r * 3 + 1]} | {cells[r * 3 + 2]} " for r in range(3)]
    return [rows[0], "---+---+---", rows[1], "---+---+---", rows[2]]
