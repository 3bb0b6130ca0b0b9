"""What the player client knows of where its player is: a named place, moved by the server.

Theory of operation
-------------------
The client's ``Where`` is one of ``NAMING`` (no name yet), ``MENU`` (named, in the lobby),
``GUESSING`` (in a single-player game or a room), ``MATCH`` and ``WATCHING`` (following a room
or a match).  Messages from the server move it (``PlayerView.note``), through ``MOVES``:
``identified`` names the player (the menu, unless a resumed session puts them back in a game
next), ``round_started`` enters or goes on with a guessing game, ``left_game`` and
``match_ended`` return to the menu, ``board`` is a match, and a logout (``forget_name``) goes
back to ``NAMING``; the server's ``ok`` to ``watch`` moves it to ``WATCHING`` and back.  A
message that would move the view where the table does not allow it is a server the client does
not understand: the view stays where it is.  The prompt follows from the place.  Pure: no I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, ClassVar

from guessnet import wire


class Where(enum.Enum):
    NAMING = "naming"
    MENU = "menu"
    GUESSING = "guessing"
    MATCH = "match"
    WATCHING = "watching"


MOVES: dict[Where, frozenset[Where]] = {
    Where.NAMING: frozenset({Where.MENU}),
    Where.MENU: frozenset({Where.MENU, Where.GUESSING, Where.MATCH, Where.NAMING,
                           Where.WATCHING}),
    Where.WATCHING: frozenset({Where.MENU, Where.NAMING}),
    Where.GUESSING: frozenset({Where.MENU, Where.GUESSING, Where.MATCH, Where.NAMING}),
    Where.MATCH: frozenset({Where.MENU, Where.MATCH, Where.NAMING}),
}

NAME_PROMPT = "Enter your name (or 'register NAME' / 'login NAME', 'help'): "
MENU_PROMPT = "Select game mode (1: single, 2: multi) : "


class PlayerView:
    """What the server has told this player so far, and the prompt that follows from it.  The
    network thread writes it through ``note``; the input thread reads it."""

    def __init__(self) -> None:
        self.where = Where.NAMING
        self.name: str | None = None
        self.account = False
        self.mode: str | None = None  # the guessing game: single or multi
        self.room: str | None = None
        self.low, self.high = 1, 10
        self.invite_from: str | None = None
        self.board: wire.Board | None = None
        self.resume_token: str | None = None
        self.bye: str | None = None
        self.continues = False  # the last round_started went on with the same game

    def move(self, target: Where) -> bool:
        """Go to ``target`` if the table allows it from here; False (and stay) if not."""
        if target not in MOVES[self.where]:
            return False
        self.where = target
        return True

    def note(self, msg: wire.Message) -> None:
        """Take in what ``msg`` says about where the player is."""
        take = self._TAKES.get(type(msg))
        if take is not None:
            take(self, msg)

    def _identified(self, msg: wire.Identified) -> None:
        self.name, self.account = msg.name, msg.account
        self.resume_token = msg.resume_token or self.resume_token
        if self.where is Where.NAMING:
            self.move(Where.MENU)

    def _round_started(self, msg: wire.RoundStarted) -> None:
        self.continues = self.mode is not None and (self.mode, self.room) == (msg.mode, msg.room)
        if self.move(Where.GUESSING):
            self.mode, self.room, self.low, self.high = msg.mode, msg.room, msg.low, msg.high

    def _left_game(self, msg: wire.LeftGame) -> None:
        if self.move(Where.MENU):
            self.mode = self.room = None

    def _invited(self, msg: wire.Invited) -> None:
        self.invite_from = msg.sender

    def _invite_update(self, msg: wire.InviteUpdate) -> None:
        if msg.outcome != "sent":
            self.invite_from = None

    def _board(self, msg: wire.Board) -> None:
        if self.where is Where.WATCHING:
            self.board = msg
        elif self.move(Where.MATCH):
            self.board, self.mode, self.room = msg, None, None

    def _match_ended(self, msg: wire.MatchEnded) -> None:
        if self.move(Where.MENU):
            self.board = None

    def _bye(self, msg: wire.Bye) -> None:
        self.bye = msg.reason

    _TAKES: ClassVar[dict[type[wire.Message], Callable[[PlayerView, Any], None]]] = {
        wire.Identified: _identified, wire.RoundStarted: _round_started,
        wire.LeftGame: _left_game, wire.Invited: _invited, wire.InviteUpdate: _invite_update,
        wire.Board: _board, wire.MatchEnded: _match_ended, wire.Bye: _bye,
    }

    def forget_name(self) -> None:
        """Logged out: back to the name prompt, with nothing to resume."""
        self.where = Where.NAMING
        self.name = self.mode = self.room = self.resume_token = None
        self.account = False
        self.board = None

    def restarted(self) -> None:
        """The server restarted: its session is gone (no name, no token, no match); the
        guessing game to go back to is kept."""
        self.where = Where.NAMING
        self.name, self.resume_token, self.board = None, None, None
        self.account = False

    def my_move(self) -> bool:
        """Whether the match waits for this player's move."""
        board = self.board
        if self.where is not Where.MATCH or board is None:
            return False
        return board.turn == self.name or (board.turn is None and self.name in board.waiting)

    def prompt(self) -> str:
        if self.where is Where.NAMING:
            return NAME_PROMPT
        if self.where is Where.MATCH and self.board is not None:
            return f"Your move ({self.board.you}): " if self.my_move() else \
                "(waiting for the other player) "
        if self.where is Where.GUESSING:
            return f"Input a number ({self.low} ~ {self.high}): "
        if self.where is Where.WATCHING:
            return "(watching: 'say' chats, 'exit' stops) "
        return MENU_PROMPT
