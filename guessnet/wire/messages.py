"""guessnet's message types: one frozen dataclass per message, and who may send which.

Every message type is declared here as ``class Hello(Message, wire="hello")``: its annotations
are its schema, its docstring says what it means, and it is registered under its wire ``type``
(``guessnet.wire.schema``).  ``guessnet.wire.codec`` validates incoming JSON against these
declarations and frames them; callers import them from ``guessnet.wire`` (``wire.Hello``).
"""

from __future__ import annotations

from dataclasses import field
from typing import Final, Literal

from guessnet.wire import hosting
from guessnet.wire.schema import NAME_MAX, Error, Message, Scalar, name_field, text_field

__all__ = [
    "ADMIN_TO_SERVER",
    "PLAYER_TO_SERVER",
    "SERVER_TO_ADMIN",
    "SERVER_TO_PLAYER",
    "AdminEvent",
    "Board",
    "Bye",
    "ChangePassword",
    "Chat",
    "DirectMessage",
    "Guess",
    "Hello",
    "Hint",
    "History",
    "Identified",
    "Invite",
    "InviteOutcome",
    "InviteReply",
    "InviteUpdate",
    "Invited",
    "Kick",
    "Leaders",
    "Leave",
    "LeftGame",
    "ListPlayers",
    "ListRooms",
    "Login",
    "Logout",
    "MatchEnded",
    "Mode",
    "Move",
    "Notice",
    "Ok",
    "Ping",
    "Play",
    "Pong",
    "Quit",
    "Register",
    "Replay",
    "Resign",
    "Resume",
    "RoomUpdate",
    "RoundEnded",
    "RoundStarted",
    "Say",
    "SetName",
    "Stats",
    "Table",
    "Welcome",
    "Who",
]


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



class Quit(Message, wire="quit"):
    """The client is leaving; the server answers ``bye`` and closes."""


class Bye(Message, wire="bye"):
    """The server is closing this connection and says why (``quit``, ``kicked``, ...)."""
    reason: str = field(metadata={"max_len": 32})
    message: str = field(metadata=text_field)


# -- player -> server

class SetName(Message, wire="name"):
    """Play as a guest under ``name``."""
    name: str = field(metadata=name_field)


class Register(Message, wire="register"):
    name: str = field(metadata=name_field)
    password: str = field(metadata={"max_len": 256})


class Login(Message, wire="login"):
    name: str = field(metadata=name_field)
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
    """Enter a game: ``mode`` is ``single`` or ``multi`` (``room`` names the multiplayer room),
    or the name of a match game (``tictactoe``, ...) to play against the server."""
    mode: str = field(metadata={"max_len": 16})
    room: str | None = field(default=None, metadata={"max_len": NAME_MAX * 4})


class Guess(Message, wire="guess"):
    value: int


class Leave(Message, wire="leave"):
    """Leave the current game and go back to the mode menu (the client's ``exit``)."""


class Say(Message, wire="say"):
    """Chat to everyone in the sender's room (for an admin: to every player)."""
    text: str = field(metadata=text_field)


class DirectMessage(Message, wire="msg"):
    """Chat to one player by name."""
    to: str = field(metadata=name_field)
    text: str = field(metadata=text_field)


class Who(Message, wire="who"):
    """Ask for the names of the players online."""


class Leaders(Message, wire="leaders"):
    game: str | None = field(default=None, metadata={"max_len": 16})


class History(Message, wire="history"):
    limit: int = field(default=10, metadata={"min": 1, "max": 100})


class Replay(Message, wire="replay"):
    game_id: int = field(metadata={"min": 1})


class Invite(Message, wire="invite"):
    """Challenge a player to a match of ``game``."""
    to: str = field(metadata=name_field)
    game: str = field(default="tictactoe", metadata={"max_len": 16})


class InviteReply(Message, wire="invite_reply"):
    """Answer the pending invitation."""
    accept: bool


class Move(Message, wire="move"):
    """A move in the current match, as typed (the game says how: for tic-tac-toe a cell,
    ``1``-``9``, ``b2`` or ``2,3``)."""
    cell: str = field(metadata={"max_len": 10})


class Resign(Message, wire="resign"):
    """Concede the current match."""


# -- admin -> server

class ListPlayers(Message, wire="list"):
    """Admin: the table of connected player sockets."""


class ListRooms(Message, wire="rooms"):
    """Admin: rooms with their members and round number."""


class Stats(Message, wire="stats"):
    """Admin: counters and uptime."""


class Kick(Message, wire="kick"):
    """Admin: disconnect a player given by connection id or name."""
    target: str = field(metadata=name_field)
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
    name: str = field(metadata=name_field)
    account: bool
    resume_token: str | None = field(default=None, metadata={"max_len": 64})


class Ok(Message, wire="ok"):
    """A command succeeded; ``message`` says what happened."""
    message: str = field(metadata=text_field)


Mode = Literal["single", "multi"]
InviteOutcome = Literal["sent", "accepted", "declined", "timeout", "cancelled"]


class RoundStarted(Message, wire="round_started"):
    """A round begins (or the player joined one): the rules of this round.  ``time_limit``:
    seconds the round lasts from its first guess (null: no limit); ``time_left``: seconds
    left when this was sent (null: no limit, or nobody has guessed yet); ``paused``: the host
    stopped the room's clock, and guesses wait for them to resume it."""
    mode: Mode
    room: str | None = field(metadata={"max_len": NAME_MAX * 4})
    round: int
    low: int
    high: int
    tries: int
    tries_used: int
    time_limit: int | None = None
    time_left: int | None = None
    paused: bool = False


class Hint(Message, wire="hint"):
    """Answer to one guess: ``result`` is ``high``, ``low`` or ``correct``."""
    value: int
    result: Literal["high", "low", "correct"]
    tries_used: int
    tries_left: int


class RoundEnded(Message, wire="round_ended"):
    """The round is over for everyone in it: ``outcome`` is ``won``, ``failed``, ``timeout``
    or ``stopped`` (the host ended it)."""
    mode: Mode
    room: str | None = field(metadata={"max_len": NAME_MAX * 4})
    round: int
    outcome: Literal["won", "failed", "timeout", "stopped"]
    winner: str | None = field(metadata={"max_len": NAME_MAX * 4})
    secret: int
    game_id: int | None = None


class RoomUpdate(Message, wire="room_update"):
    """Someone ``joined`` or ``left`` the room the receiver is in; went ``away`` (their
    connection dropped: the seat is held ``seconds``) or came ``back``; or was ``lost``: their
    server process stopped answering (they left the round when its presence expired)."""
    room: str = field(metadata={"max_len": NAME_MAX * 4})
    name: str = field(metadata=name_field)
    event: Literal["joined", "left", "away", "back", "lost"]
    seconds: int | None = None


class LeftGame(Message, wire="left_game"):
    """The receiver is back at the mode menu."""
    mode: Mode
    room: str | None = field(default=None, metadata={"max_len": NAME_MAX * 4})


class Chat(Message, wire="chat"):
    """A chat line: ``room`` for room chat, ``private`` for a direct message; ``earlier``
    for one said before the receiver arrived (the last lines, replayed on joining)."""
    sender: str = field(metadata=name_field)
    text: str = field(metadata=text_field)
    room: str | None = field(default=None, metadata={"max_len": NAME_MAX * 4})
    private: bool = False
    earlier: bool = False


class Notice(Message, wire="notice"):
    """A message from the server or its admin, shown to the player as is."""
    text: str = field(metadata=text_field)
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
    """Someone challenges the receiver to a match of ``game``; answer with ``invite_reply``
    within ``seconds``."""
    sender: str = field(metadata=name_field)
    seconds: int
    game: str = field(default="tictactoe", metadata={"max_len": 16})


class InviteUpdate(Message, wire="invite_update"):
    """What became of an invitation: ``sent``, ``accepted``, ``declined``, ``timeout``,
    ``cancelled``; ``message`` says it in words."""
    other: str = field(metadata=name_field)
    outcome: InviteOutcome
    message: str = field(metadata=text_field)


class Board(Message, wire="board"):
    """A match's board after every move.  ``game`` names the game; ``board`` is
    ``rows * columns`` characters, row by row from the top: a player's mark or a space;
    ``x`` and ``o`` are the players of the first and second mark (``X``, ``O`` in every game);
    ``turn`` names who moves
    next (null when the match is over, or in a game where both choose at once: then
    ``waiting`` lists who has still to choose); ``you`` is the receiver's mark; ``last`` the
    square (1 = top left) of the last move; ``rtt_ms`` the receiver's round-trip time."""
    match_id: int
    x: str = field(metadata=name_field)
    o: str = field(metadata=name_field)
    board: str = field(metadata={"max_len": 64})
    turn: str | None = field(metadata=name_field)
    you: Literal["X", "O"] | None
    game: str = field(default="tictactoe", metadata={"max_len": 16})
    rows: int = field(default=3, metadata={"min": 1, "max": 8})
    columns: int = field(default=3, metadata={"min": 1, "max": 8})
    waiting: tuple[str, ...] = ()
    last: int | None = None
    rtt_ms: float | None = None


class MatchEnded(Message, wire="match_ended"):
    """The match is over: ``outcome`` is ``won`` or ``draw``; ``how`` says why."""
    match_id: int
    outcome: Literal["won", "draw"]
    winner: str | None = field(metadata=name_field)
    how: str = field(metadata={"max_len": 200})
    game_id: int | None = None
    game: str = field(default="tictactoe", metadata={"max_len": 16})


# -- server -> admin

class AdminEvent(Message, wire="event"):
    """Pushed to every admin the moment something happens (``kind`` names what)."""
    kind: str = field(metadata={"max_len": 32})
    at: str = field(metadata={"max_len": 32})
    text: str = field(metadata=text_field)
    conn: str | None = field(default=None, metadata={"max_len": 64})
    peer: str | None = field(default=None, metadata={"max_len": 64})
    name: str | None = field(default=None, metadata={"max_len": NAME_MAX * 4})
    room: str | None = field(default=None, metadata={"max_len": NAME_MAX * 4})


def _types(*classes: type[Message]) -> frozenset[str]:
    return frozenset(c.TYPE for c in classes)


PLAYER_TO_SERVER: Final = _types(
    Hello, Ping, Pong, Quit, SetName, Register, Login, ChangePassword, Logout, Play, Guess, Leave,
    Say, DirectMessage, Who, Leaders, History, Replay, Invite, InviteReply, Move, Resign, Resume,
    hosting.Watch)
ADMIN_TO_SERVER: Final = _types(
    Hello, Ping, Pong, Quit, ListPlayers, ListRooms, Stats, Kick, Say, DirectMessage, History,
    Replay, hosting.Ban, hosting.Unban, hosting.Bans, hosting.Mute, hosting.Rename,
    hosting.PauseRoom, hosting.ResumeRoom, hosting.NextRound, hosting.LockRoom,
    hosting.UnlockRoom, hosting.RoomRules, hosting.Export)
SERVER_TO_PLAYER: Final = _types(
    Welcome, Ping, Pong, Error, Bye, Identified, Ok, RoundStarted, Hint, RoundEnded, RoomUpdate,
    LeftGame, Chat, Notice, Table, Invited, InviteUpdate, Board, MatchEnded, hosting.Guessed)
SERVER_TO_ADMIN: Final = _types(Welcome, Ping, Pong, Error, Bye, Ok, Notice, Table, AdminEvent)
