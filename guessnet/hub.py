"""The process-wide registry: who is connected, which channels they hear, what admins are told.

Sessions (``player.PlayerSession``, ``admin.AdminSession``) own one connection each and call into
the hub; the hub never blocks on a socket.  Room and lobby traffic goes through the ``Bus``: a
session joins a channel with ``join_channel`` and every payload published there is delivered to
the local members, encoded once for all of them.  Admin events go through the bus as well, so an
admin connected to any process sees what happens on all of them when the bus is shared.
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import protocol
from games.guess import GuessRoom, Rules
from guessnet.accounts import Throttle
from guessnet.logs import escape, log
from storage.base import ADMIN_CHANNEL, Bus, Counters, JSONDict, RoomStore, Store

if TYPE_CHECKING:
    from guessnet.conn import Connection

LOBBY = "lobby"


class Member(Protocol):
    """What the hub needs of a session to deliver to it."""

    conn_id: str
    conn: Connection

    @property
    def name(self) -> str | None: ...


@dataclass(frozen=True)
class Settings:
    rules: Rules = field(default_factory=Rules)
    instance: str = "guessnet"
    max_connections: int = 10_000
    max_per_peer: int = 200


@dataclass
class Backends:
    store: Store
    rooms: RoomStore
    bus: Bus
    counters: Counters


def frame_of(payload: JSONDict) -> bytes:
    """Encode an already-built message dict once (it was validated when it was made)."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return protocol.HEADER.pack(len(body)) + body


def table_frames(title: str, columns: Sequence[str],
                 rows: Iterable[Sequence[protocol.Scalar]]) -> list[bytes]:
    """Split a table into as many ``table`` frames as the 4096-byte limit needs."""
    frames: list[bytes] = []
    batch: list[tuple[protocol.Scalar, ...]] = []
    budget = protocol.MAX_PAYLOAD - 64
    base = len(protocol.payload_of(protocol.Table(title=title, columns=tuple(columns), rows=())))
    size = base
    for row in rows:
        cells = tuple(escape(c, 200) if isinstance(c, str) else c for c in row)
        row_size = len(json.dumps(cells, ensure_ascii=False).encode("utf-8")) + 1
        if batch and size + row_size > budget:
            frames.append(protocol.encode(protocol.Table(
                title=title, columns=tuple(columns), rows=tuple(batch), last=False)))
            batch, size = [], base
        batch.append(cells)
        size += row_size
    frames.append(protocol.encode(protocol.Table(
        title=title, columns=tuple(columns), rows=tuple(batch), last=True)))
    return frames


def clock_text(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


@dataclass
class Hub:
    settings: Settings
    backends: Backends
    clock: Callable[[], float] = time.time
    started: float = field(default_factory=time.time)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.RLock = field(default_factory=threading.RLock)
    players: dict[str, Member] = field(default_factory=dict)
    _names: dict[str, Member] = field(default_factory=dict)
    admins: dict[str, Member] = field(default_factory=dict)
    _channels: dict[str, set[Member]] = field(default_factory=lambda: defaultdict(set))
    _per_peer: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    _throttle: Throttle = field(default_factory=Throttle)
    shutting_down: bool = False

    def __post_init__(self) -> None:
        self.backends.bus.subscribe(ADMIN_CHANNEL, self._deliver_admin)

    # ------------------------------------------------------------------ connections

    def next_id(self) -> str:
        return str(next(self._ids))

    def admit(self, peer_host: str) -> str | None:
        """Count a new player connection; return why it is refused, or None."""
        with self._lock:
            if self.shutting_down:
                return "the server is shutting down"
            if len(self.players) >= self.settings.max_connections:
                return f"server full ({self.settings.max_connections} players): try again later"
            if self._per_peer[peer_host] >= self.settings.max_per_peer:
                return f"too many connections from {peer_host}"
            self._per_peer[peer_host] += 1
        return None

    def release(self, peer_host: str) -> None:
        with self._lock:
            self._per_peer[peer_host] -= 1
            if self._per_peer[peer_host] <= 0:
                del self._per_peer[peer_host]

    def add_player(self, member: Member) -> None:
        with self._lock:
            self.players[member.conn_id] = member

    def remove_player(self, member: Member) -> None:
        with self._lock:
            self.players.pop(member.conn_id, None)
            self.release_name(member)
            for members in self._channels.values():
                members.discard(member)

    def add_admin(self, member: Member) -> None:
        with self._lock:
            self.admins[member.conn_id] = member

    def remove_admin(self, member: Member) -> None:
        with self._lock:
            self.admins.pop(member.conn_id, None)

    # ------------------------------------------------------------------ names

    def claim_name(self, member: Member, name: str) -> Member | None:
        """Register ``member`` under ``name``; return the member holding it before, if any."""
        key = name.casefold()
        with self._lock:
            previous = self._names.get(key)
            self._names[key] = member
        return previous if previous is not member else None

    def name_online(self, name: str) -> bool:
        with self._lock:
            return name.casefold() in self._names

    def release_name(self, member: Member) -> None:
        with self._lock:
            if member.name is not None and self._names.get(member.name.casefold()) is member:
                del self._names[member.name.casefold()]

    def find_player(self, target: str) -> Member | None:
        """A connected player by connection id, else by name."""
        with self._lock:
            return self.players.get(target) or self._names.get(target.casefold())

    def online_names(self) -> list[str]:
        with self._lock:
            return sorted((m.name for m in self._names.values() if m.name), key=str.casefold)

    # ------------------------------------------------------------------ throttling

    def login_wait(self, keys: list[str]) -> float:
        with self._lock:
            return self._throttle.wait_time(keys, time.monotonic())

    def login_result(self, keys: list[str], ok: bool) -> None:
        with self._lock:
            if ok:
                self._throttle.succeeded(keys)
            else:
                self._throttle.failed(keys, time.monotonic())

    # ------------------------------------------------------------------ channels

    def join_channel(self, member: Member, channel: str) -> None:
        with self._lock:
            first = channel not in self._channels or not self._channels[channel]
            self._channels[channel].add(member)
        if first:
            self.backends.bus.subscribe(channel, lambda payload: self._deliver(channel, payload))

    def leave_channel(self, member: Member, channel: str) -> None:
        with self._lock:
            members = self._channels.get(channel)
            if members is None:
                return
            members.discard(member)
            emptied = not members
            if emptied:
                del self._channels[channel]
        if emptied:
            self.backends.bus.unsubscribe(channel)

    def publish(self, channel: str, msg: protocol.Message, *, only: str | None = None,
                skip: str | None = None) -> None:
        self.backends.bus.publish(channel, envelope(msg, only=only, skip=skip))

    def _deliver(self, channel: str, payload: JSONDict) -> None:
        with self._lock:
            members = list(self._channels.get(channel, ()))
        only, skip = payload.get("only"), payload.get("skip")
        frame = frame_of(payload["msg"])
        for member in members:
            name = member.name
            if only is not None and (name is None or name.casefold() != only):
                continue
            if skip is not None and name is not None and name.casefold() == skip:
                continue
            member.conn.send_frame(frame)

    def broadcast_players(self, msg: protocol.Message) -> None:
        """Send ``msg`` to every player connected to this process (encoded once)."""
        frame = protocol.encode(msg)
        with self._lock:
            members = list(self.players.values())
        for member in members:
            member.conn.send_frame(frame)

    # ------------------------------------------------------------------ admin events

    def admin_event(self, kind: str, text: str, log_as: str | None = "GAME",
                    **fields: str | None) -> None:
        """Tell every admin (on every process sharing the bus) that something happened;
        also log it under ``log_as`` unless the caller logged it already (None)."""
        if log_as is not None:
            log(log_as, f"{kind}: {escape(text)}")
        event = protocol.AdminEvent(kind=kind, at=clock_text(self.clock()), text=text[:2000],
                                    **fields)
        self.backends.bus.publish(ADMIN_CHANNEL, {"msg": event.to_dict()})

    def _deliver_admin(self, payload: JSONDict) -> None:
        frame = frame_of(payload["msg"])
        with self._lock:
            admins = list(self.admins.values())
        for admin in admins:
            admin.conn.send_frame(frame)

    # ------------------------------------------------------------------ rooms

    def new_room(self, name: str, mode: str) -> GuessRoom:
        rules = self.settings.rules
        return GuessRoom(name=name, mode=mode, rules=rules, secret=self.draw_secret(),
                         started=self.clock())

    def draw_secret(self) -> int:
        rules = self.settings.rules
        return rules.low + secrets.randbelow(rules.high - rules.low + 1)

    def live_rooms(self) -> list[GuessRoom]:
        return list(self.backends.rooms.rooms())

    def transact(self, room: str, change: Callable[[GuessRoom], Any]) -> Any:
        return self.backends.rooms.transact(room, lambda: self.new_room(room, "multi"), change)


def envelope(msg: protocol.Message, *, only: str | None = None,
             skip: str | None = None) -> JSONDict:
    """The bus payload for one room message; ``only``/``skip`` name a player (case-folded)."""
    payload: JSONDict = {"msg": msg.to_dict()}
    if only is not None:
        payload["only"] = only.casefold()
    if skip is not None:
        payload["skip"] = skip.casefold()
    return payload
