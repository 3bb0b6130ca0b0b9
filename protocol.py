"""guessnet wire protocol: length-prefixed JSON frames carrying typed messages.

Theory of operation
-------------------
A frame is a 4-byte big-endian unsigned payload length followed by that many bytes of UTF-8 JSON.
The payload is one JSON object with a string ``type`` and the fields of that message type; it is
at most ``MAX_PAYLOAD`` (4096) bytes.  This module never touches a socket: a ``FrameDecoder`` is
fed whatever bytes arrived (``receive_data``) and hands back typed, validated messages
(``next_message``); ``encode`` turns a message into the bytes of one frame.

Every message type is a frozen dataclass registered under its wire ``type``.  Its annotations are
the schema: ``int`` (JSON integers only, booleans refused, |n| <= 2**53), ``float`` (finite),
``str`` (bounded length), ``bool``, ``X | None`` (optional), ``tuple[str, ...]`` and table rows.
Decoders are built for one side of one port (``PLAYER_TO_SERVER`` and so on), so a message type
that side may not send is as unknown as a made-up one.

Errors are named by who is to blame: ``RemoteProtocolError`` when the peer sent something bad
(it carries the ``Error`` reply to send and whether the byte stream can still be trusted),
``LocalProtocolError`` when our own code tried to send something unencodable.
"""

from __future__ import annotations

import json
import math
import struct
import types
import typing
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar, Final, Literal, Union

PROTOCOL_VERSION: Final = 1
MAX_PAYLOAD: Final = 4096
HEADER: Final = struct.Struct(">I")
MAX_INT: Final = 2**53
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
        for f in fields(self):  # type: ignore[arg-type]
            out[f.name] = _jsonable(getattr(self, f.name))
        return out


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
    old: str = field(metadata={"max_len": 256})
    new: str = field(metadata={"max_len": 256})


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
    """A round begins (or the player joined one): the rules of this round."""
    mode: Mode
    room: str | None = field(metadata={"max_len": NAME_MAX * 4})
    round: int
    low: int
    high: int
    tries: int
    tries_used: int


class Hint(Message, wire="hint"):
    """Answer to one guess: ``result`` is ``high``, ``low`` or ``correct``."""
    value: int
    result: Literal["high", "low", "correct"]
    tries_used: int
    tries_left: int


class RoundEnded(Message, wire="round_ended"):
    """The round is over for everyone in it: ``outcome`` is ``won`` or ``failed``."""
    mode: Mode
    room: str | None = field(metadata={"max_len": NAME_MAX * 4})
    round: int
    outcome: Literal["won", "failed"]
    winner: str | None = field(metadata={"max_len": NAME_MAX * 4})
    secret: int
    game_id: int | None = None


class RoomUpdate(Message, wire="room_update"):
    """Someone ``joined`` or ``left`` the room the receiver is in."""
    room: str = field(metadata={"max_len": NAME_MAX * 4})
    name: str = field(metadata=_NAME)
    event: Literal["joined", "left"]


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


# --------------------------------------------------------------------------- validation

def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is not finite")
    return value


def _bounded_int(text: str) -> int:
    if len(text) > 20:
        raise ValueError("integer has too many digits")
    return int(text)


def _check_value(name: str, hint: Any, value: Any, meta: typing.Mapping[str, Any]) -> Any:
    """Return ``value`` converted to the field's Python type, or raise ``ValueError``."""
    origin = typing.get_origin(hint)
    if origin is Literal:
        allowed = typing.get_args(hint)
        if not isinstance(value, str) or value not in allowed:
            raise ValueError(f"field '{name}' must be one of {', '.join(allowed)}")
        return value
    if origin in (Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        if hint is Scalar or set(options) == {str, int, float, bool, type(None)}:
            if isinstance(value, (str, int, float, bool)):
                return _check_value(name, type(value), value, meta)
            raise ValueError(f"field '{name}' must be a plain value")
        inner = [o for o in options if o is not type(None)]
        return _check_value(name, inner[0], value, meta)
    if origin is tuple:
        if not isinstance(value, list):
            raise ValueError(f"field '{name}' must be a list")
        item_hint = typing.get_args(hint)[0]
        return tuple(_check_value(name, item_hint, v, {}) for v in value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ValueError(f"field '{name}' must be true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"field '{name}' must be an integer")
        low, high = meta.get("min", -MAX_INT), meta.get("max", MAX_INT)
        if not low <= value <= high:
            raise ValueError(f"field '{name}' must be between {low} and {high}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"field '{name}' must be a number")
        if not math.isfinite(value):
            raise ValueError(f"field '{name}' must be finite")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ValueError(f"field '{name}' must be a string")
        if len(value) > meta.get("max_len", TEXT_MAX):
            raise ValueError(f"field '{name}' is longer than {meta.get('max_len', TEXT_MAX)}")
        return value
    raise LocalProtocolError(f"unsupported field type {hint!r} for '{name}'")


_HINTS: dict[type[Message], dict[str, Any]] = {}


def _hints(cls: type[Message]) -> dict[str, Any]:
    cached = _HINTS.get(cls)
    if cached is None:
        cached = typing.get_type_hints(cls, globalns=globals())
        _HINTS[cls] = cached
    return cached


def from_dict(obj: Any, accepted: frozenset[str] | None = None) -> Message:
    """Validate a decoded JSON value and build its message, or raise ``RemoteProtocolError``."""
    if not isinstance(obj, dict):
        raise RemoteProtocolError("not_object", "a frame must hold a JSON object")
    wire_type = obj.get("type")
    if not isinstance(wire_type, str):
        raise RemoteProtocolError("missing_type", "the object has no string 'type' field")
    cls = REGISTRY.get(wire_type)
    if cls is None or (accepted is not None and wire_type not in accepted):
        raise RemoteProtocolError("unknown_type", f"unknown message type {wire_type[:40]!r}")
    hints = _hints(cls)
    values: dict[str, Any] = {}
    known = {"type"}
    for f in fields(cls):  # type: ignore[arg-type]
        known.add(f.name)
        if f.name not in obj:
            if f.default is MISSING:
                raise RemoteProtocolError(
                    "bad_field", f"'{wire_type}' needs the field '{f.name}'")
            continue
        try:
            values[f.name] = _check_value(f.name, hints[f.name], obj[f.name], f.metadata)
        except ValueError as exc:
            raise RemoteProtocolError("bad_field", f"'{wire_type}': {exc}") from None
    extra = set(obj) - known
    if extra:
        raise RemoteProtocolError(
            "bad_field", f"'{wire_type}' has no field {sorted(extra)[0][:40]!r}")
    return cls(**values)


def parse_payload(payload: bytes, accepted: frozenset[str] | None = None) -> Message:
    """Turn one frame's payload into a message, or raise ``RemoteProtocolError``."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise RemoteProtocolError("bad_utf8", "the frame is not valid UTF-8") from None
    try:
        obj = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float,
                         parse_int=_bounded_int)
    except RecursionError:
        raise RemoteProtocolError("bad_json", "the JSON is nested too deeply") from None
    except ValueError as exc:
        raise RemoteProtocolError("bad_json", f"the frame is not valid JSON: {exc}") from None
    return from_dict(obj, accepted)


# --------------------------------------------------------------------------- framing

def payload_of(msg: Message | dict[str, Any]) -> bytes:
    """The JSON payload of ``msg`` or of a message dict already built and validated (no
    header, no size check): for measuring before splitting, or relaying a bus payload."""
    body = msg if isinstance(msg, dict) else msg.to_dict()
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def encode(msg: Message) -> bytes:
    """Return the bytes of one frame carrying ``msg``.

    Raises ``LocalProtocolError`` when the message would exceed ``MAX_PAYLOAD``: the caller
    must split it (see ``Table``) or refuse it before sending.
    """
    payload = payload_of(msg)
    if len(payload) > MAX_PAYLOAD:
        raise LocalProtocolError(
            f"'{msg.TYPE}' message is {len(payload)} bytes, over the {MAX_PAYLOAD} limit")
    return HEADER.pack(len(payload)) + payload


class FrameDecoder:
    """Incremental frame decoder: ``receive_data`` bytes, then drain ``next_message``.

    A length prefix of 0 or over ``max_payload`` raises a fatal ``RemoteProtocolError`` as soon
    as the 4 header bytes are in, before any of the body is buffered.  A bad payload raises a
    non-fatal one: that frame is consumed and decoding can go on with the next.
    """

    def __init__(self, accepted: frozenset[str] | None = None,
                 max_payload: int = MAX_PAYLOAD) -> None:
        self._buffer = bytearray()
        self._accepted = accepted
        self._max = max_payload
        self._broken: RemoteProtocolError | None = None

    @property
    def buffered(self) -> int:
        """Bytes of a frame received but not yet complete (0 between frames)."""
        return len(self._buffer)

    def receive_data(self, data: bytes) -> None:
        self._buffer += data

    def next_payload(self) -> bytes | None:
        """The next complete payload, or None when more bytes are needed."""
        if self._broken is not None:
            raise self._broken
        if len(self._buffer) < HEADER.size:
            return None
        (length,) = HEADER.unpack_from(self._buffer)
        if length == 0 or length > self._max:
            what = "empty" if length == 0 else f"{length} bytes, over the {self._max} limit"
            self._broken = RemoteProtocolError("bad_length", f"frame length is {what}",
                                               fatal=True)
            self._buffer.clear()
            raise self._broken
        end = HEADER.size + length
        if len(self._buffer) < end:
            return None
        payload = bytes(self._buffer[HEADER.size:end])
        del self._buffer[:end]
        return payload

    def next_message(self) -> Message | None:
        """The next complete message, None when more bytes are needed."""
        payload = self.next_payload()
        if payload is None:
            return None
        return parse_payload(payload, self._accepted)
