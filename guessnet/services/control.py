"""The control protocol between server processes: typed messages on each process's channel.

Theory of operation
-------------------
Every process subscribes to its own instance channel (``storage.base.instance_channel``).  To
act on a session or a match that lives on another process, a service ``send``s one of the
frozen dataclasses below to that process; there ``Control`` decodes the payload, checks every
field's type, and calls the one handler registered for that message type.  A payload that does
not decode (another version, a bug) is logged and dropped: it never reaches a handler.

On the bus a message is ``{"action": <kind>, <field>: <value>, ...}``.
"""

from __future__ import annotations

import threading
import typing
from collections.abc import Callable
from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any, ClassVar, Literal, TypeVar

from guessnet.storage.base import BackendError, Bus, JSONDict, instance_channel
from guessnet.support.logs import escape, log
from guessnet.wire import InviteOutcome


class ControlMessage:
    """Base of the control messages; ``KIND`` is the ``action`` on the bus."""

    KIND: ClassVar[str]


@dataclass(frozen=True)
class Evict(ControlMessage):
    """Close session ``conn`` (``connection-id.incarnation``) of the receiving process,
    telling its player why; a no-op when that session is gone or of an earlier run."""

    KIND = "evict"
    conn: str
    reason: str
    message: str


@dataclass(frozen=True)
class Deliver(ControlMessage):
    """Send the (already validated) message ``msg`` to session ``conn`` (as in ``Evict``)."""

    KIND = "deliver"
    conn: str
    msg: JSONDict


@dataclass(frozen=True)
class MatchInvite(ControlMessage):
    """``sender`` (session ``sender_owner``) invites ``to``, a player of the receiver, to a
    match of ``game``."""

    KIND = "match_invite"
    to: str
    sender: str
    sender_owner: str
    game: str


@dataclass(frozen=True)
class MatchAnswer(ControlMessage):
    """``invitee`` answered ``inviter``'s invitation; on acceptance the inviter's process
    hosts the match and reaches the invitee at ``invitee_owner``."""

    KIND = "match_answer"
    inviter: str
    invitee: str
    invitee_owner: str
    accept: bool
    message: str


@dataclass(frozen=True)
class MatchCancel(ControlMessage):
    """The invitation to ``invitee`` ended without a match (``outcome`` says how)."""

    KIND = "match_cancel"
    invitee: str
    outcome: InviteOutcome
    message: str


@dataclass(frozen=True)
class MatchSeat(ControlMessage):
    """``player`` now plays in a match of ``game`` (its title) hosted by ``host`` (None: in no
    match any more)."""

    KIND = "match_seat"
    player: str
    host: str | None
    game: str = ""


@dataclass(frozen=True)
class MatchOp(ControlMessage):
    """To the host: ``player`` moved to ``cell`` (``op`` move) or left (``op`` resign,
    ``how`` says why)."""

    KIND = "match_op"
    player: str
    op: str
    cell: str = ""
    how: str = "resigned"


@dataclass(frozen=True)
class RenameSession(ControlMessage):
    """The host renamed the player of session ``conn`` (as in ``Evict``): they are ``new``."""

    KIND = "rename"
    conn: str
    new: str


@dataclass(frozen=True)
class SeatClaim(ControlMessage):
    """A player presented, on process ``reply_to``, the resume token (of SHA-256
    ``token_hash``: the token itself never leaves the process it reached) of a seat held here:
    hand it over to session ``claimant`` (an owner id) and answer ``request``."""

    KIND = "seat_claim"
    token_hash: str
    claimant: str
    reply_to: str
    request: str


@dataclass(frozen=True)
class SeatHanded(ControlMessage):
    """The answer to ``SeatClaim`` ``request``: the seat (name, account, place, room, single
    game, match host and title), or ``ok`` false when it was not (any more) held here."""

    KIND = "seat_handed"
    request: str
    ok: bool
    seat: JSONDict


KINDS: dict[str, type[ControlMessage]] = {
    cls.KIND: cls for cls in (Evict, Deliver, MatchInvite, MatchAnswer, MatchCancel, MatchSeat,
                              MatchOp, RenameSession, SeatClaim, SeatHanded)}
M = TypeVar("M", bound=ControlMessage)


class ControlDecodeError(Exception):
    """A control payload from another process does not decode (the message says why)."""


def _fits(value: object, hint: object) -> bool:
    if hint is str:
        return isinstance(value, str)
    if hint is bool:
        return isinstance(value, bool)
    if hint == (str | None):
        return value is None or isinstance(value, str)
    if hint == JSONDict:
        return isinstance(value, dict)
    if typing.get_origin(hint) is Literal:
        return value in typing.get_args(hint)
    raise TypeError(f"unsupported control field type {hint!r}")


def encode(msg: ControlMessage) -> JSONDict:
    return {"action": msg.KIND, **asdict(msg)}  # type: ignore[call-overload]


def decode(payload: JSONDict) -> ControlMessage:
    """The typed message of a bus payload, or ``ControlDecodeError``."""
    kind = payload.get("action")
    cls = KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ControlDecodeError(f"unknown control action {escape(kind, 40)!r}")
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if f.name not in payload:
            if f.default is MISSING and f.default_factory is MISSING:
                raise ControlDecodeError(f"{kind}: missing field {f.name!r}")
            continue
        if not _fits(payload[f.name], hints[f.name]):
            raise ControlDecodeError(f"{kind}: field {f.name!r} has the wrong type")
        values[f.name] = payload[f.name]
    return cls(**values)


def split_owner(owner: str) -> tuple[str, str]:
    """``instance/connection`` -> (instance, connection)."""
    instance, _, conn = owner.rpartition("/")
    return instance, conn


class Control:
    """This process's end of the control protocol.  Callers use ``on`` (once per message
    type, while the server is built), ``send`` and ``start``."""

    def __init__(self, bus: Bus, instance: str) -> None:
        self._bus = bus
        self.instance = instance
        self._handlers: dict[type[ControlMessage], Callable[[Any], None]] = {}
        self._lock = threading.Lock()

    def on(self, kind: type[M], handler: Callable[[M], None]) -> None:
        with self._lock:
            if kind in self._handlers:
                raise ValueError(f"a handler for {kind.__name__} is registered already")
            self._handlers[kind] = handler

    def start(self) -> None:
        self._bus.subscribe(instance_channel(self.instance), self._receive)

    def send(self, instance: str, msg: ControlMessage) -> None:
        """Publish ``msg`` to process ``instance`` (raises ``BackendError`` if the bus is
        down)."""
        self._bus.publish(instance_channel(instance), encode(msg))

    def try_send(self, instance: str, msg: ControlMessage) -> bool:
        """``send``, logging a bus failure instead of raising it; False if it failed."""
        try:
            self.send(instance, msg)
        except BackendError as exc:
            log("ERROR", f"control {msg.KIND} to {escape(instance)}: {escape(exc)}")
            return False
        return True

    def _receive(self, payload: JSONDict) -> None:
        try:
            msg = decode(payload)
        except ControlDecodeError as exc:
            log("ERROR", f"control message dropped: {escape(exc)}")
            return
        with self._lock:
            handler = self._handlers.get(type(msg))
        if handler is not None:
            handler(msg)
