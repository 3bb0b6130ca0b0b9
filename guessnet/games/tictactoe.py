"""Tic-tac-toe rules and a perfect opponent, on the match games' seam (``games.base``).

Theory of operation
-------------------
A ``TicTacToeState`` is a board of nine cells, numbered 1-9 row by row::

     1 | 2 | 3          a1 | b1 | c1
     4 | 5 | 6    or    a2 | b2 | c2
     7 | 8 | 9          a3 | b3 | c3

``X`` moves first.  The match is in one of three states: ``playing`` (someone's turn),
``won`` (``winner`` set) or ``draw``.  The moves are:

* ``move(player, cell)``: in ``playing``, by the player whose turn it is, on a free cell given as
  ``1``-``9``, ``b2`` (column letter, row digit) or ``2,3`` / ``2 3`` (row, column).  Anything
  else raises ``MoveRejected`` and changes nothing.  Three in a row wins; a full board draws.
* ``resign(player, how)``: in ``playing``, by either player; the other wins.

``best_move`` is a minimax player (with memoised positions) that never loses.  The module does
no I/O, reads no clock and starts no threads.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from guessnet.games.matchgame import MatchGame, MatchMove, MatchState, MoveRejected, TurnTakingState

LINES = ((0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6))
_ROW_COL = re.compile(r"\s*([1-3])\s*[, ]\s*([1-3])\s*")
_LETTER_ROW = re.compile(r"\s*([a-cA-C])\s*([1-3])\s*")


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


@dataclass
class TicTacToeState(TurnTakingState):
    """A tic-tac-toe match (``first`` plays X and moves first)."""

    cells: str = " " * 9

    def move(self, player: str, text: str) -> None:
        mark = self.check_turn(player)
        cell = parse_cell(text)
        if self.cells[cell] != " ":
            raise MoveRejected(f"cell {cell + 1} is taken: choose a free cell")
        self.cells = self.cells[:cell] + mark + self.cells[cell + 1:]
        self.moves.append(MatchMove(player=player, mark=mark, square=cell + 1))
        if winner_of(self.cells):
            self.state, self.winner, self.how = "won", player, "three in a row"
        elif " " not in self.cells:
            self.state, self.how = "draw", "board full"


class TicTacToe(MatchGame):
    """Tic-tac-toe against another player or the server's perfect player."""

    name = "tictactoe"
    title = "tic-tac-toe"
    rows = columns = 3
    move_help = "a cell: 1-9, a column and row like b2, or row,column like 2,3"
    bot_promise = "it never loses"

    def new(self, first: str, second: str) -> TicTacToeState:
        return TicTacToeState(first, second)

    def bot_move(self, state: MatchState, player: str) -> str:
        return str(best_move(state.board, state.mark_of(player)))

    def render(self, board: str) -> list[str]:
        return render(board)


GAME = TicTacToe()
TicTacToeState.game = GAME


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
