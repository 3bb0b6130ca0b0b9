"""guessnet's message types: one frozen dataclass per message, and who may send which.

Every message type is declared here as ``class Hello(Message, wire="hello")``: its annotations
are its schema, its docstring says what it means, and it is registered under its wire ``type``.
``protocol`` validates incoming JSON against these declarations and frames them; import them
from ``protocol`` (it re-exports every name here).  The errors are declared here too, because
a ``RemoteProtocolError`` carries the ``Error`` message to answer with.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Final, Literal

PROTOCOL_VERSION: Final = 1
NAME_MAX: Final = 20
TEXT_MAX: Final = 3000

Scalar = str | int | float | bool | None


class ProtocolError(Exception):
    """Base class of every error this module raises."""


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol.

    ``code`` is stable and machine-readable, ``str(self)`` is for humans.  ``fatal`` is true when
    the framing itself is lost (a bad length prefix): the connection must then be closed after
    the reply, because the next frame boundary cannot be found.
    """

    def __init__(self, code: str, message: str, *, fatal: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.fatal = fatal

    def reply(self) -> Error:
        return Error(code=self.code, message=str(self))


class LocalProtocolError(ProtocolError):
    """Our own code tried to send something the protocol cannot carry (a bug on this side)."""


# --------------------------------------------------------------------------- message types

REGISTRY: dict[str, type[Message]] = {}


@typing.dataclass_transform(frozen_default=True, field_specifiers=(field,))
class Message:
    """Base of all message types: ``class Hello(Message, wire="hello")`` declares a frozen
    dataclass whose annotations are its schema, registered under its wire ``type``."""

    TYPE: ClassVar[str] = ""

    def __init_subclass__(cls, *, wire: str, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if wire in REGISTRY:
            raise LocalProtocolError(f"message type {wire!r} is declared twice")
        cls.TYPE = wire
        dataclass(frozen=True)(cls)
        REGISTRY[wire] = cls

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.TYPE}
        for name in _field_names(type(self)):
            out[name] = _jsonable(getattr(self, name))
        return out


_FIELD_NAMES: dict[type[Message], tuple[str, ...]] = {}


def _field_names(cls: type[Message]) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]
    return names


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


_NAME: Final = {"max_len": NAME_MAX * 4}  # names are checked by the name rule later
_TEXT: Final = {"max_len": TEXT_MAX}


# -- both directions / both ports

class Hello(Message, wire="hello"):
    """First message of a client: its protocol version and a short client name."""
    version: int
    client: str = field(default="", metadata={"max_len": 64})


class Ping(Message, wire="ping"):
    """Either side asks for a ``pong`` echoing ``nonce``; used for heartbeats and RTT."""
    nonce: int


class Pong(Message, wire="pong"):
    nonce: int


class Error(Message, wire="error"):
    """Something the receiver sent was refused; ``code`` is stable, ``message`` is for people."""
    code: str = field(metadata={"max_len": 64})
    message: str = field(metadata=_TEXT)


class Quit(Message, wire="quit"):
    """The client is leaving; the server answers ``bye`` and closes."""


class Bye(Message, wire="bye"):
    """The server is closing this connection and says why (``quit``, ``kicked``, ...)."""
    reason: str = field(metadata={"max_len": 32})
    message: str = field(metadata=_TEXT)


# -- player -> server

class SetName(Message, wire="name"):
    """Play as a guest under ``name``."""
    name: str = field(metadata=_NAME)


class Register(Message, wire="register"):
    name: str = field(metadata=_NAME)
    password: str = field(metadata={"max_len": 256})


class Login(Message, wire="login"):
    name: str = field(metadata=_NAME)
    password: str = field(metadata={"max_len": 256})


class ChangePassword(Message, wire="passwd"):
    """Change the account's password; with ``new`` absent or null, only check ``old``."""
    old: str = field(metadata={"max_len": 256})
    new: str | None = field(default=None, metadata={"max_len": 256})


class Resume(Message, wire="resume"):
    """Instead of a name: take back a dropped session with its resume token."""
    token: str = field(metadata={"max_len": 64})


class Logout(Message, wire="logout"):
    """Back to an anonymous connection: the next prompt asks for a name again."""


class Play(Message, wire="play"):
    """Enter a game: ``mode`` is ``single`` or ``multi``; ``room`` names the multiplayer room."""
    mode: str = field(metadata={"max_len": 16})
    room: str | None = field(default=None, metadata={"max_len": NAME_MAX * 4})


class Guess(Message, wire="guess"):
    value: int


class Leave(Message, wire="leave"):
    """Leave the current game and go back to the mode menu (the client's ``exit``)."""


class Say(Message, wire="say"):
    """Chat to everyone in the sender's room (for an admin: to every player)."""
    text: str = field(metadata=_TEXT)


class DirectMessage(Message, wire="msg"):
    """Chat to one player by name."""
    to: str = field(metadata=_NAME)
    text: str = field(metadata=_TEXT)


class Who(Message, wire="who"):
    """Ask for the names of the players online."""


class Leaders(Message, wire="leaders"):
    game: str | None = field(default=None, metadata={"max_len": 16})


class History(Message, wire="history"):
    limit: int = field(default=10, metadata={"min": 1, "max": 100})


class Replay(Message, wire="replay"):
    game_id: int = field(metadata={"min": 1})


class Invite(Message, wire="invite"):
    """Challenge a player to tic-tac-toe."""
    to: str = field(metadata=_NAME)


class InviteReply(Message, wire="invite_reply"):
    """Answer the pending invitation."""
    accept: bool


class Move(Message, wire="move"):
    """A tic-tac-toe move: ``1``-``9``, ``b2`` (column, row) or ``2,3`` (row, column)."""
    cell: str = field(metadata={"max_len": 10})


class Resign(Message, wire="resign"):
    """Concede the current tic-tac-toe match."""


# -- admin -> server

class ListPlayers(Message, wire="list"):
    """Admin: the table of connected player sockets."""


class ListRooms(Message, wire="rooms"):
    """Admin: rooms with their members and round number."""


class Stats(Message, wire="stats"):
    """Admin: counters and uptime."""


class Kick(Message, wire="kick"):
    """Admin: disconnect a player given by connection id or name."""
    target: str = field(metadata=_NAME)
    reason: str = field(default="", metadata={"max_len": 200})


# -- server -> player

class Welcome(Message, wire="welcome"):
    """Answer to ``hello``: the server's protocol version, instance name and game settings."""
    version: int
    server: str = field(metadata={"max_len": 128})
    low: int
    high: int
    tries: int


class Identified(Message, wire="identified"):
    """The connection now plays as ``name``; ``account`` tells an account from a guest.
    ``resume_token`` (single use) brings this session back after a dropped connection."""
    name: str = field(metadata=_NAME)
    account: bool
    resume_token: str | None = field(default=None, metadata={"max_len": 64})


class Ok(Message, wire="ok"):
    """A command succeeded; ``message`` says what happened."""
    message: str = field(metadata=_TEXT)


Mode = Literal["single", "multi"]
InviteOutcome = Literal["sent", "accepted", "declined", "timeout", "cancelled"]


class RoundStarted(Message, wire="round_started"):
    """A round begins (or the player joined one): the rules of this round.  ``time_limit``:
    seconds the round lasts from its first guess (null: no limit); ``time_left``: seconds
    left when this was sent (null: no limit, or nobody has guessed yet)."""
    mode: Mode
    room: str | None = field(metadata={"max_len": NAME_MAX * 4})
    round: int
    low: int
    high: int
    tries: int
    tries_used: int
    time_limit: int | None = None
    time_left: int | None = None


class Hint(Message, wire="hint"):
    """Answer to one guess: ``result`` is ``high``, ``low`` or ``correct``."""
    value: int
    result: Literal["high", "low", "correct"]
    tries_used: int
    tries_left: int


class RoundEnded(Message, wire="round_ended"):
    """The round is over for everyone in it: ``outcome`` is ``won``, ``failed`` or
    ``timeout``."""
    mode: Mode
    room: str | None = field(metadata={"max_len": NAME_MAX * 4})
    round: int
    outcome: Literal["won", "failed", "timeout"]
    winner: str | None = field(metadata={"max_len": NAME_MAX * 4})
    secret: int
    game_id: int | None = None


class RoomUpdate(Message, wire="room_update"):
    """Someone ``joined`` or ``left`` the room the receiver is in; went ``away`` (their
    connection dropped: the seat is held ``seconds``) or came ``back``; or was ``lost``: their
    server process stopped answering (they left the round when its presence expired)."""
    room: str = field(metadata={"max_len": NAME_MAX * 4})
    name: str = field(metadata=_NAME)
    event: Literal["joined", "left", "away", "back", "lost"]
    seconds: int | None = None


class LeftGame(Message, wire="left_game"):
    """The receiver is back at the mode menu."""
    mode: Mode
    room: str | None = field(default=None, metadata={"max_len": NAME_MAX * 4})


class Chat(Message, wire="chat"):
    """A chat line: ``room`` for room chat, ``private`` for a direct message."""
    sender: str = field(metadata=_NAME)
    text: str = field(metadata=_TEXT)
    room: str | None = field(default=None, metadata={"max_len": NAME_MAX * 4})
    private: bool = False


class Notice(Message, wire="notice"):
    """A message from the server or its admin, shown to the player as is."""
    text: str = field(metadata=_TEXT)
    sender: str = field(default="server", metadata={"max_len": 32})


class Table(Message, wire="table"):
    """A table (who, leaders, history, replay, admin listings), split over several frames.

    Parts with the same ``title`` accumulate until one arrives with ``last`` true.
    """
    title: str = field(metadata={"max_len": 200})
    columns: tuple[str, ...]
    rows: tuple[tuple[Scalar, ...], ...]
    last: bool = True


class Invited(Message, wire="invited"):
    """Someone challenges the receiver; answer with ``invite_reply`` within ``seconds``."""
    sender: str = field(metadata=_NAME)
    seconds: int


class InviteUpdate(Message, wire="invite_update"):
    """What became of an invitation: ``sent``, ``accepted``, ``declined``, ``timeout``,
    ``cancelled``; ``message`` says it in words."""
    other: str = field(metadata=_NAME)
    outcome: InviteOutcome
    message: str = field(metadata=_TEXT)


class Board(Message, wire="board"):
    """The tic-tac-toe board after every move: ``board`` is 9 characters of ``X``, ``O`` or
    space, row by row; ``turn`` names who moves next (null when over); ``you`` is the
    receiver's mark; ``rtt_ms`` the receiver's last measured round-trip time."""
    match_id: int
    x: str = field(metadata=_NAME)
    o: str = field(metadata=_NAME)
    board: str = field(metadata={"max_len": 9})
    turn: str | None = field(metadata=_NAME)
    you: Literal["X", "O"]
    last: int | None = None
    rtt_ms: float | None = None


class MatchEnded(Message, wire="match_ended"):
    """The match is over: ``outcome`` is ``won`` or ``draw``; ``how`` says why."""
    match_id: int
    outcome: Literal["won", "draw"]
    winner: str | None = field(metadata=_NAME)
    how: str = field(metadata={"max_len": 200})
    game_id: int | None = None


# -- server -> admin

class AdminEvent(Message, wire="event"):
    """Pushed to every admin the moment something happens (``kind`` names what)."""
    kind: str = field(metadata={"max_len": 32})
    at: str = field(metadata={"max_len": 32})
    text: str = field(metadata=_TEXT)
    conn: str | None = field(default=None, metadata={"max_len": 64})
    peer: str | None = field(default=None, metadata={"max_len": 64})
    name: str | None = field(default=None, metadata={"max_len": NAME_MAX * 4})
    room: str | None = field(default=None, metadata={"max_len": NAME_MAX * 4})


def _types(*classes: type[Message]) -> frozenset[str]:
    return frozenset(c.TYPE for c in classes)


PLAYER_TO_SERVER: Final = _types(
    Hello, Ping, Pong, Quit, SetName, Register, Login, ChangePassword, Logout, Play, Guess, Leave,
    Say, DirectMessage, Who, Leaders, History, Replay, Invite, InviteReply, Move, Resign, Resume)
ADMIN_TO_SERVER: Final = _types(
    Hello, Ping, Pong, Quit, ListPlayers, ListRooms, Stats, Kick, Say, DirectMessage, History,
    Replay)
SERVER_TO_PLAYER: Final = _types(
    Welcome, Ping, Pong, Error, Bye, Identified, Ok, RoundStarted, Hint, RoundEnded, RoomUpdate,
    LeftGame, Chat, Notice, Table, Invited, InviteUpdate, Board, MatchEnded)
SERVER_TO_ADMIN: Final = _types(Welcome, Ping, Pong, Error, Bye, Ok, Notice, Table, AdminEvent)
