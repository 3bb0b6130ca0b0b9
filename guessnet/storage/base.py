"""The storage interfaces every backend implements.

* ``Store``: accounts, finished games (history) and the leaderboard.  Durable.
* ``RoomStore``: the live state of each multiplayer room, changed only inside ``transact`` so that
  one transition (a winning guess, say) happens exactly once however many processes race for it;
  the transition's broadcasts are published on the ``Bus`` in the same atomic step, so every
  member sees a room's events in the order they happened.
* ``Bus``: publish/subscribe of small JSON objects on named channels (room events, admin events).
  Delivery is at most once; handlers run on a backend thread and must not block.
* ``Counters``: best-effort integer counters (correct answers per session, user and room).
* ``ChatLog``: the last lines said in each room (and the lobby), for whoever arrives next.

Backends translate their own failures into ``BackendError`` in one place each, raised ``from`` the
original, so callers handle one exception whatever the backend.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeVar

T = TypeVar("T")
JSONDict = dict[str, Any]
Handler = Callable[[JSONDict], None]

class BackendError(Exception):
    """A storage backend failed (unreachable, timed out, corrupt); the message says which."""


class NameTaken(Exception):
    """``create_user`` was given a name that exists already (case-insensitively)."""


@dataclass(frozen=True)
class UserRecord:
    name: str
    password_hash: str
    created: float


@dataclass(frozen=True)
class LeaderRow:
    player: str
    wins: int
    played: int
    best: int | None

    @property
    def win_rate(self) -> float:
        return self.wins / self.played if self.played else 0.0


@dataclass(frozen=True)
class GameSummary:
    game_id: int
    game: str
    mode: str
    room: str | None
    ended: float
    players: tuple[str, ...]
    outcome: str
    winner: str | None


@dataclass(frozen=True)
class Sanction:
    """A ban or a mute the host set, in force until ``until`` (a Unix time): on a ``name``
    (its case-folded key) or, for a ban, an ``address`` (``gate.address_key``)."""

    kind: Literal["ban", "mute"]
    scope: Literal["name", "address"]
    target: str
    until: float
    reason: str
    by: str
    since: float

    def to_dict(self) -> JSONDict:
        return {"kind": self.kind, "scope": self.scope, "target": self.target,
                "until": self.until, "reason": self.reason, "by": self.by, "since": self.since}

    @classmethod
    def from_dict(cls, data: JSONDict) -> Sanction:
        return cls(data["kind"], data["scope"], data["target"], float(data["until"]),
                   data["reason"], data["by"], float(data["since"]))


def stored_game(game_id: int, text: str | bytes) -> JSONDict:
    """A stored game's record: its JSON, which leaves the id out, with the id it is stored
    under (records written by earlier versions carry the same id in their JSON)."""
    record: JSONDict = json.loads(text)
    record["id"] = game_id
    return record


def summarize(record: JSONDict) -> GameSummary:
    """The history line of a stored game record."""
    return GameSummary(
        game_id=int(record["id"]), game=record["game"], mode=record["mode"],
        room=record.get("room"), ended=float(record["ended"]),
        players=tuple(record.get("players", ())), outcome=record.get("outcome", ""),
        winner=record.get("winner"))


def name_key(name: str) -> str:
    """The case-insensitive key under which a name is unique."""
    return name.casefold()


class Store(abc.ABC):
    """Accounts, game history and leaderboard.

    A game record is a JSON object: ``game`` (``guess``/``tictactoe``), ``mode``, ``room``,
    ``started``/``ended`` (Unix times), ``players``, ``secret`` (guessing) , ``moves`` (each
    ``{"at", "player", "move", "result"}``), ``outcome`` and ``winner``, and ``results``: one
    ``{"player", "board", "won", "tries"}`` per account that played, which feeds the leaderboard.
    """

    @abc.abstractmethod
    def create_user(self, name: str, password_hash: str, now: float) -> None:
        """Create an account; raise ``NameTaken`` if the name exists in any letter case."""

    @abc.abstractmethod
    def get_user(self, name: str) -> UserRecord | None: ...

    @abc.abstractmethod
    def accounts_among(self, names: Collection[str]) -> set[str]:
        """Which of ``names`` are accounts (as given), in one round trip: a round's end asks
        about every player of a room at once."""

    @abc.abstractmethod
    def set_password(self, name: str, password_hash: str) -> None: ...

    @abc.abstractmethod
    def rename_user(self, name: str, new: str) -> bool:
        """Give account ``name`` the name ``new``, with its password, games and leaderboard
        results; False if there is no such account, ``NameTaken`` if ``new`` is another's."""

    @abc.abstractmethod
    def set_sanction(self, sanction: Sanction) -> None:
        """Keep ``sanction`` (replacing one of the same kind, scope and target)."""

    @abc.abstractmethod
    def lift_sanction(self, kind: str, scope: str, target: str) -> bool:
        """Remove a sanction; False if there was none in force."""

    @abc.abstractmethod
    def sanctions(self, now: float) -> list[Sanction]:
        """Every sanction still in force at ``now`` (the others are forgotten)."""

    @abc.abstractmethod
    def save_game(self, record: JSONDict) -> int:
        """Store a finished game durably; return its id (1, 2, 3, ...).  A record with a
        ``key`` already stored is not stored again: its existing id is returned."""

    def save_games(self, records: Sequence[JSONDict]) -> list[int]:
        """``save_game`` for each record, in order (games that ended together); a backend
        that can writes them in one transaction.  On ``BackendError`` some may be stored:
        writing them again stores each once (their keys)."""
        return [self.save_game(record) for record in records]

    @abc.abstractmethod
    def get_game(self, game_id: int) -> JSONDict | None: ...

    @abc.abstractmethod
    def recent_games(self, limit: int, player: str | None = None) -> list[GameSummary]:
        """The last ``limit`` games, newest first; only ``player``'s when given."""

    @abc.abstractmethod
    def games_since(self, since: float, room: str | None, limit: int) -> list[JSONDict]:
        """Whole records of the games that ended at or after ``since`` (in ``room`` only,
        when given), oldest first, at most ``limit`` (the newest ``limit`` then)."""

    @abc.abstractmethod
    def count_games(self) -> int: ...

    @abc.abstractmethod
    def leaders(self, board: str, limit: int = 10) -> list[LeaderRow]:
        """Top accounts of one board, most wins first (ties: fewer rounds, then best)."""

    def close(self) -> None:
        """Release connections; the store is not used afterwards."""


class Bus(abc.ABC):
    """Publish/subscribe of small JSON objects on named channels.

    Callers may use ``publish``, ``subscribe`` (one handler per channel: subscribing again
    replaces it), ``unsubscribe``, ``on_reconnect``, ``start`` and ``close``.  Handlers run on a
    backend thread and must not block.  Delivery is at most once: a backend that can lose its
    connection calls the ``on_reconnect`` hooks after it subscribed again, so that callers
    re-read the state they may have missed.  ``start`` begins delivery (a backend's threads
    start there, never in its constructor); ``subscribe`` before ``start`` is remembered.
    """

    @abc.abstractmethod
    def publish(self, channel: str, payload: JSONDict) -> None: ...

    @abc.abstractmethod
    def subscribe(self, channel: str, handler: Handler) -> None:
        """Call ``handler`` with every payload published on ``channel`` from now on (from
        ``start`` on, when called before it), instead of the channel's previous handler."""

    @abc.abstractmethod
    def unsubscribe(self, channel: str) -> None: ...

    @abc.abstractmethod
    def on_reconnect(self, hook: Callable[[float], None]) -> None:
        """Call ``hook(lost_at)`` after every reconnection, with the wall-clock time the
        connection was lost: what was published since may not have been delivered (never
        called by a bus that cannot lose its connection)."""

    def start(self) -> None:
        """Begin delivering (start the backend's threads, if it has any)."""

    def close(self) -> None:
        """Stop delivering; release connections."""


@dataclass
class Transition(Generic[T]):
    """What a room transaction produced: a value for the caller and broadcasts for members."""

    value: T
    broadcasts: list[JSONDict] | None = None


class SharedRoom(Protocol):
    """What a room store keeps of a room: its state as JSON (``load`` makes it again), and
    whether anyone is in it."""

    def to_dict(self) -> JSONDict: ...

    @property
    def vacant(self) -> bool:
        """No member left: the store removes the room."""


R = TypeVar("R", bound=SharedRoom)


class RoomStore(abc.ABC, Generic[R]):
    """Live rooms of one kind (``R``, made again from JSON by the ``load`` each backend is
    given).  ``transact`` applies ``change`` to a room atomically.

    A transaction that leaves a room with no members removes it, on every backend: ``rooms``
    lists only rooms someone is in, and a room made again starts at round 1.

    ``change`` receives the room (created by ``create`` when absent) and returns a
    ``Transition``; it may be called more than once under optimistic concurrency, so it must
    not have side effects beyond the room it is handed.  The broadcasts are published on the
    room's channel (``room_channel``) in order, atomically with the new state.  A change that
    raises publishes nothing; it must raise before it mutates the room (the rules' moves
    validate first), as an in-process backend changes the room in place rather than copying
    it per transaction.
    """

    @abc.abstractmethod
    def transact(self, name: str, create: Callable[[], R],
                 change: Callable[[R], Transition[T]]) -> T: ...

    @abc.abstractmethod
    def rooms(self, skipped: Callable[[str, Exception], None] | None = None) -> Iterator[R]:
        """A snapshot of every live room; one that cannot be loaded (left by another version,
        or damaged) is passed to ``skipped`` with the reason, and the others still come."""


def room_channel(room: str) -> str:
    return f"room:{room}"


ADMIN_CHANNEL = "admin"
PLAYERS_CHANNEL = "players"


def instance_channel(instance: str) -> str:
    """Where other processes send this one's sessions an eviction or a direct message."""
    return f"instance:{instance}"


class Presence(abc.ABC):
    """Who is online on every process: unique names and a session listing for admins.

    ``owner`` is ``instance/connection-id``.  Entries (names and sessions) expire ``ttl``
    seconds after they were last written unless ``refresh`` renews them, so the players of a
    process that died disappear by themselves; a live process refreshes well inside ``ttl``.
    """

    ttl: float

    @abc.abstractmethod
    def claim(self, name: str, owner: str, steal: bool) -> str | None:
        """Take ``name`` for ``owner``; return the other owner holding it (taken over from it
        when ``steal``), or None when it was free or already ours."""

    @abc.abstractmethod
    def release(self, name: str, owner: str) -> None:
        """Free ``name`` if ``owner`` still holds it."""

    @abc.abstractmethod
    def refresh(self, sessions: dict[str, JSONDict],
                held: Mapping[str, str] | None = None) -> None:
        """Publish (and renew) these sessions' listing entries, keyed by owner, with the
        name each entry carries; renew the claims in ``held`` (name -> owner) without listing
        a session: the seats of dropped players waiting to resume."""

    @abc.abstractmethod
    def drop(self, owner: str) -> None: ...

    @abc.abstractmethod
    def sessions(self) -> list[JSONDict]:
        """Every live session's entry, on every process."""

    @abc.abstractmethod
    def owner_of(self, name: str) -> str | None: ...

    @abc.abstractmethod
    def hold_seat(self, token_hash: str, instance: str, seconds: float) -> None:
        """The seat resumed by the token of hash ``token_hash`` is held by process
        ``instance`` for ``seconds`` (any process may be asked to resume it)."""

    @abc.abstractmethod
    def seat_holder(self, token_hash: str) -> str | None:
        """The process holding the seat of that token, or None (unknown, or expired)."""


class Counters(abc.ABC):
    """Best-effort counters.  ``available`` is False while the backend is unreachable."""

    available: bool = True
    incomplete: bool = False

    @abc.abstractmethod
    def incr(self, key: str, by: int = 1) -> None: ...

    def incr_each(self, keys: Iterable[str]) -> None:
        """One more on each of ``keys`` (a round's end counts several), in one step where
        the backend can."""
        for key in keys:
            self.incr(key)

    @abc.abstractmethod
    def get(self, key: str) -> int | None:
        """The counter's value, 0 if never counted, None if the backend cannot say now."""

    def close(self) -> None:
        """Release connections."""


class ChatLog(abc.ABC):
    """The last ``LINES`` chat lines of each channel (a room, the lobby), oldest first: a
    player arriving sees what was said.  Best effort: a lost line costs nobody a game."""

    LINES = 20

    @abc.abstractmethod
    def add(self, channel: str, line: JSONDict) -> None: ...

    @abc.abstractmethod
    def recent(self, channel: str) -> list[JSONDict]: ...
