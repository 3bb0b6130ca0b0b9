"""Connect Four: seven columns of six, gravity, four in a row; on the match games' seam.

Theory of operation
-------------------
The board is 6 rows by 7 columns, squares numbered 1-42 row by row from the top::

     1  2  3  4  5  6  7
     8  9 10 11 12 13 14       a move names a column, 1-7; the disc falls to the
    ...                        lowest free square of that column
    36 37 38 39 40 41 42

``X`` (the first player) moves first, then the players alternate.  ``move(player, column)``
in ``playing``, by the player whose turn it is, in a column that is not full; anything else
raises ``MoveRejected`` and changes nothing.  Four of a player's discs in a row (across, down
or either diagonal) win; a full board with no four is a draw.  ``resign`` works as in every
match game.  ``Connect4.bot_move`` never misses a win it has, always blocks one the other
player has, and otherwise plays the middle-most column that does not hand the other player a
win on the square above.  Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from guessnet.games.matchgame import MatchGame, MatchMove, MatchState, MoveRejected, TurnTakingState

ROWS, COLUMNS = 6, 7
PREFERENCE = (3, 2, 4, 1, 5, 0, 6)  # columns, middle first (0-based)
DIRECTIONS = ((0, 1), (1, 0), (1, 1), (1, -1))


def parse_column(text: str) -> int:
    """The column (0-6) of ``text`` (``1``-``7``), or ``MoveRejected``."""
    stripped = text.strip()
    if len(stripped) == 1 and stripped in "1234567":
        return int(stripped) - 1
    raise MoveRejected(f"{text[:20]!r} is not a column: type a column number, 1-7")


def landing(board: str, column: int) -> int | None:
    """The square (0-based) a disc dropped in ``column`` lands on; None if it is full."""
    for row in range(ROWS - 1, -1, -1):
        if board[row * COLUMNS + column] == " ":
            return row * COLUMNS + column
    return None


def wins(board: str, square: int) -> bool:
    """Whether the disc on ``square`` is part of four in a row."""
    mark = board[square]
    row, column = divmod(square, COLUMNS)
    for dr, dc in DIRECTIONS:
        count = 1
        for sign in (1, -1):
            r, c = row + sign * dr, column + sign * dc
            while 0 <= r < ROWS and 0 <= c < COLUMNS and board[r * COLUMNS + c] == mark:
                count += 1
                r, c = r + sign * dr, c + sign * dc
        if count >= 4:
            return True
    return False


def dropped(board: str, column: int, mark: str) -> tuple[str, int] | None:
    """The board after ``mark`` drops in ``column``, and the square it landed on."""
    square = landing(board, column)
    if square is None:
        return None
    return board[:square] + mark + board[square + 1:], square


def winning_column(board: str, mark: str) -> int | None:
    """A column where ``mark`` wins at once, if there is one."""
    for column in PREFERENCE:
        after = dropped(board, column, mark)
        if after is not None and wins(*after):
            return column
    return None


@dataclass
class Connect4State(TurnTakingState):
    """A Connect Four match (``first`` plays X and moves first)."""

    cells: str = " " * (ROWS * COLUMNS)

    def move(self, player: str, text: str) -> None:
        mark = self.check_turn(player)
        column = parse_column(text)
        after = dropped(self.cells, column, mark)
        if after is None:
            raise MoveRejected(f"column {column + 1} is full: choose another column")
        self.cells, square = after
        self.moves.append(MatchMove(player=player, mark=mark, square=square + 1))
        if wins(self.cells, square):
            self.state, self.winner, self.how = "won", player, "four in a row"
        elif " " not in self.cells:
            self.state, self.how = "draw", "board full"


class Connect4(MatchGame):
    """Connect Four against another player or the server's player."""

    name = "connect4"
    title = "Connect Four"
    rows, columns = ROWS, COLUMNS
    move_help = "a column: 1-7"
    move_name = "column"
    bot_promise = "it never misses a win and always blocks yours"

    def new(self, first: str, second: str) -> Connect4State:
        return Connect4State(first, second)

    def bot_move(self, state: MatchState, player: str) -> str:
        board, mine = state.board, state.mark_of(player)
        theirs = state.mark_of(state.other(player))
        for mark in (mine, theirs):  # win if it can, else block
            column = winning_column(board, mark)
            if column is not None:
                return str(column + 1)
        legal = [c for c in PREFERENCE if landing(board, c) is not None]
        safe = [c for c in legal if not gives_a_win(board, c, mine, theirs)]
        return str((safe or legal)[0] + 1)

    def move_text(self, square: int) -> int | str:
        return (square - 1) % COLUMNS + 1


def gives_a_win(board: str, column: int, mine: str, theirs: str) -> bool:
    """Whether dropping ``mine`` in ``column`` lets ``theirs`` win at once on top of it."""
    after = dropped(board, column, mine)
    if after is None:
        return False
    above = dropped(after[0], column, theirs)
    return above is not None and wins(*above)


GAME = Connect4()
Connect4State.game = GAME
