"""What a two-player match game is: the seam the matches, the wire, the store and the clients
are built against.  A game is one module beside this one and one line in ``catalog``.

Theory of operation
-------------------
A ``MatchGame`` describes a game: its ``name`` (on the wire and in history), ``title`` (for
people), its board's ``rows`` and ``columns``, the ``marks`` of its two players, whether moves
are ``simultaneous``, and how a move is typed (``move_help``).  ``new(first, second)`` makes
the ``MatchState`` of one match, a state machine:

* ``playing``: ``waiting_for`` names who may move now: one player in a turn-taking game, every
  player who has not chosen yet in a simultaneous one.  ``move(player, text)`` by one of them
  either changes the state or raises ``MoveRejected`` and changes nothing (not their move, not
  a legal move, the match is over).  ``resign(player, how)`` by either player ends the match:
  the other wins.
* ``won`` (``winner`` set) or ``draw``: every move raises ``MoveRejected``.

``board`` is the position as ``rows * columns`` characters, row by row from the top: a mark,
or a space for an empty square (a simultaneous game shows what is public).  ``moves`` records
each move (who, which square or column, with which mark) for history and replay;
``boards_after`` replays them.  ``bot_move`` is the server's player: what it types when it is
to move.  Pure: no I/O, no clock, no threads.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import ClassVar, Literal

State = Literal["playing", "won", "draw"]
Mark = Literal["X", "O"]  # the two players' marks, in every game


class MoveRejected(Exception):
    """A move the rules refuse; the message says why and what to do.  The match is unchanged."""


@dataclass(frozen=True)
class MatchMove:
    """One move as kept in history: who, where (a square 1..rows*columns, or a column), and
    the mark it left."""

    player: str
    mark: str
    square: int


@dataclass
class MatchState(abc.ABC):
    """One match of a ``MatchGame``; see the module docstring.  Subclasses implement
    ``waiting_for``, ``move`` and ``board``."""

    game: ClassVar[MatchGame]
    first: str
    second: str
    state: State = "playing"
    winner: str | None = None
    how: str = ""
    moves: list[MatchMove] = field(default_factory=list)

    @property
    def players(self) -> tuple[str, str]:
        return self.first, self.second

    @property
    @abc.abstractmethod
    def board(self) -> str:
        """``rows * columns`` characters, row by row from the top."""

    @property
    @abc.abstractmethod
    def waiting_for(self) -> tuple[str, ...]:
        """Who may move now (empty once the match is over)."""

    @abc.abstractmethod
    def move(self, player: str, text: str) -> None:
        """Play ``text`` (as the player typed it) for ``player``, or ``MoveRejected``."""

    @property
    def turn(self) -> str | None:
        """The one player to move in a turn-taking game (None when over, or simultaneous)."""
        waiting = self.waiting_for
        return waiting[0] if len(waiting) == 1 and not self.game.simultaneous else None

    def mark_of(self, player: str) -> Mark:
        if player == self.first:
            return self.game.marks[0]
        if player == self.second:
            return self.game.marks[1]
        raise MoveRejected(f"{player} is not playing in this match")

    def other(self, player: str) -> str:
        return self.second if self.mark_of(player) == self.game.marks[0] else self.first

    def check_turn(self, player: str) -> Mark:
        """``player``'s mark if they may move now, else ``MoveRejected`` saying why."""
        mark = self.mark_of(player)
        if self.state != "playing":
            raise MoveRejected("the match is over")
        if player not in self.waiting_for:
            waiting = " and ".join(self.waiting_for)
            raise MoveRejected(f"not your turn: waiting for {waiting}")
        return mark

    def resign(self, player: str, how: str = "resigned") -> None:
        """``player`` gives up (``how``: resigned, disconnected, ...); the other one wins."""
        self.mark_of(player)
        if self.state != "playing":
            raise MoveRejected("the match is over")
        self.state, self.winner, self.how = "won", self.other(player), f"{player} {how}"

    @property
    def result(self) -> Literal["won", "draw"]:
        """How the finished match ended (``MoveRejected`` while it is still played)."""
        if self.state == "playing":
            raise MoveRejected("the match is still being played")
        return self.state


class TurnTakingState(MatchState):
    """A match on a board of marks where the players move in turn, X first: the board is
    the subclass's ``cells`` (a dataclass field with the empty board as its default)."""

    cells: str

    @property
    def board(self) -> str:
        return self.cells

    @property
    def waiting_for(self) -> tuple[str, ...]:
        if self.state != "playing":
            return ()
        return (self.first if self.cells.count("X") == self.cells.count("O") else self.second,)


class MatchGame(abc.ABC):
    """A two-player game the server offers (registered in ``catalog``)."""

    name: ClassVar[str]           # on the wire and in history: [a-z0-9]{1,16}
    title: ClassVar[str]          # for people: "tic-tac-toe"
    rows: ClassVar[int]
    columns: ClassVar[int]
    marks: ClassVar[tuple[Mark, Mark]] = ("X", "O")
    simultaneous: ClassVar[bool] = False
    move_help: ClassVar[str]      # how a move is typed: "a cell: 1-9, b2 or 2,3"
    move_name: ClassVar[str] = "cell"  # what a move names, as history's column title
    bot_promise: ClassVar[str]    # what the server's player is like: "it never loses"

    @abc.abstractmethod
    def new(self, first: str, second: str) -> MatchState:
        """A match between ``first`` (the first mark) and ``second``."""

    @abc.abstractmethod
    def bot_move(self, state: MatchState, player: str) -> str:
        """What the server's player types as ``player`` (one of ``state.waiting_for``)."""

    def squares(self) -> int:
        return self.rows * self.columns

    def move_text(self, square: int) -> int | str:
        """A recorded move as players name it (the square's number; a column, in a game of
        columns)."""
        return square

    def boards_after(self, moves: list[MatchMove]) -> list[str]:
        """The board after each move, as history replays it: each mark where it landed."""
        cells = [" "] * self.squares()
        boards = []
        for move in moves:
            if 1 <= move.square <= len(cells):
                cells[move.square - 1] = move.mark
            boards.append("".join(cells))
        return boards

    def render(self, board: str) -> list[str]:
        """The board as text lines for a terminal (empty squares as dots), with column
        numbers under it."""
        rows = [" ".join(ch if ch != " " else "." for ch in
                         board[r * self.columns:(r + 1) * self.columns])
                for r in range(self.rows)]
        return [*rows, " ".join(str(c + 1)[-1] for c in range(self.columns))]
