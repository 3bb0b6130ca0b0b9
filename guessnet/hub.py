"""The process-wide registry: who is connected, which channels they hear, what admins are told.

Sessions (``player.PlayerSession``, ``admin.AdminSession``) own one connection each and call into
the hub; the hub never blocks on a socket.  Room and lobby traffic goes through the ``Bus``: a
session joins a channel with ``join_channel`` and every payload published there is delivered to
the local members, encoded once for all of them.  Admin events go through the bus as well, so an
admin connected to any process sees what happens on all of them when the bus is shared.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import protocol
from games.guess import GuessRoom, Rules
from guessnet.accounts import Throttle
from guessnet.conn import Connection, send_to_many
from guessnet.logs import escape, log
from guessnet.resume import ResumeTokens
from storage.base import (
    ADMIN_CHANNEL,
    PLAYERS_CHANNEL,
    BackendError,
    Bus,
    Counters,
    JSONDict,
    Presence,
    RoomStore,
    Store,
    Transition,
    instance_channel,
)

LOBBY = "lobby"


class Listener(Protocol):
    """What the hub needs of a session to deliver to it."""

    conn_id: str
    conn: Connection


class Member(Listener, Protocol):
    """A player session, as the hub sees it."""

    @property
    def name(self) -> str | None: ...

    def info(self) -> JSONDict:
        """This session's presence entry (listed by admins on every process)."""

    def evict(self, reason: str, message: str) -> None:
        """Close this session from another thread, telling the player why."""


@dataclass(frozen=True)
class Settings:
    rules: Rules = field(default_factory=Rules)
    instance: str = "guessnet"
    max_connections: int = 10_000
    max_per_peer: int = 200
    resume_grace: float = 30.0
    idle_timeout: float = 120.0


@dataclass
class Backends:
    store: Store
    rooms: RoomStore
    bus: Bus
    counters: Counters
    presence: Presence

    def close(self) -> None:
        self.bus.close()
        self.store.close()
        self.counters.close()


def frame_of(payload: JSONDict) -> bytes:
    """Encode an already-built message dict once (it was validated when it was made)."""
    body = protocol.payload_of(payload)
    return protocol.HEADER.pack(len(body)) + body


def frames_of(envelope: JSONDict) -> list[bytes]:
    """The frames of a bus envelope: one ``msg``, or several ``msgs`` delivered together."""
    if "msgs" in envelope:
        return [frame_of(msg) for msg in envelope["msgs"]]
    return [frame_of(envelope["msg"])]


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


class Refused(Exception):
    """A request the client may not make now; ``code`` is stable, the message says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class NameBusy(Exception):
    """A guest asked for a name someone (on any process) is using."""


class SecretDraws:
    """Uniform secrets from the operating system's CSPRNG, read 4 KiB at a time.

    ``secrets.randbelow`` makes one ``getrandom`` system call per secret, which releases and
    retakes the GIL; the guess path drew one per guess (the next round's secret).  This draws
    the same way (``k`` random bits, rejected when out of range) from a buffer of
    ``os.urandom`` bytes that is never reused."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffer = b""
        self._at = 0

    def below(self, n: int) -> int:
        if n <= 0:
            raise ValueError("the range must not be empty")
        bits = max(1, (n - 1).bit_length())
        size = (bits + 7) // 8
        with self._lock:
            while True:
                if self._at + size > len(self._buffer):
                    self._buffer, self._at = os.urandom(4096), 0
                chunk = self._buffer[self._at:self._at + size]
                self._at += size
                value = int.from_bytes(chunk, "big") >> (size * 8 - bits)
                if value < n:
                    return value


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
    admins: dict[str, Listener] = field(default_factory=dict)
    _channels: dict[str, set[Member]] = field(default_factory=lambda: defaultdict(set))
    _per_peer: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    _throttle: Throttle = field(default_factory=Throttle)
    stopped: threading.Event = field(default_factory=threading.Event)
    shutting_down: bool = False
    matches: Any = None  # guessnet.matches.Matches, attached by server.start
    last_broadcast: tuple[int, float] | None = None  # members, seconds to queue the frames
    # other modules' actions on this process's control channel (tic-tac-toe across processes)
    control_handlers: dict[str, Callable[[JSONDict], None]] = field(default_factory=dict)
    resume: ResumeTokens = field(init=False)
    _draws: SecretDraws = field(default_factory=SecretDraws)

    def __post_init__(self) -> None:
        self.resume = ResumeTokens(self.settings.resume_grace, self.stopped)
        bus = self.backends.bus
        bus.subscribe(ADMIN_CHANNEL, self._deliver_admin)
        bus.subscribe(PLAYERS_CHANNEL, self._deliver_everyone)
        bus.subscribe(instance_channel(self.settings.instance), self._on_control)
        bus.on_reconnect(self.resync)
        threading.Thread(target=self._refresh_presence, name="presence", daemon=True).start()

    def close(self) -> None:
        self.stopped.set()

    # ------------------------------------------------------------------ connections

    def next_id(self) -> str:
        return str(next(self._ids))

    def owner(self, member: Member) -> str:
        """The process-independent id of a session: ``instance/connection-id``."""
        return f"{self.settings.instance}/{member.conn_id}"

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
        self.publish_presence(member)

    def unlist(self, member: Member) -> None:
        """The connection is gone (the seat may still be held for a resume)."""
        with self._lock:
            self.players.pop(member.conn_id, None)
        self._guarded("drop presence", lambda: self.backends.presence.drop(self.owner(member)))

    def rebind(self, old: Member, new: Member) -> None:
        """A resumed session takes over ``old``'s name and channels."""
        with self._lock:
            for key, holder in list(self._names.items()):
                if holder is old:
                    self._names[key] = new
            for members in self._channels.values():
                if old in members:
                    members.discard(old)
                    members.add(new)
        if new.name is not None:
            self._guarded("claim name", lambda: self.backends.presence.claim(
                new.name or "", self.owner(new), steal=True))

    def remove_player(self, member: Member) -> None:
        with self._lock:
            self.players.pop(member.conn_id, None)
            for members in self._channels.values():
                members.discard(member)
        self.release_name(member)
        self._guarded("drop presence", lambda: self.backends.presence.drop(self.owner(member)))

    def add_admin(self, member: Listener) -> None:
        with self._lock:
            self.admins[member.conn_id] = member

    def remove_admin(self, member: Listener) -> None:
        with self._lock:
            self.admins.pop(member.conn_id, None)

    def _guarded(self, what: str, action: Callable[[], object]) -> None:
        """Run a best-effort backend call: a backend outage is logged, never raised."""
        try:
            action()
        except BackendError as exc:
            log("ERROR", f"{what}: {escape(exc)}")

    # ------------------------------------------------------------------ names and presence

    def claim_name(self, member: Member, name: str, account: bool) -> None:
        """Make ``member`` the holder of ``name`` on every process.

        A guest gets ``NameBusy`` if anyone holds the name; an account takes it over and the
        older session, wherever it is, is told and closed.
        """
        key = name.casefold()
        holder = self.backends.presence.claim(name, self.owner(member), steal=account)
        with self._lock:
            local = self._names.get(key)
            if holder is not None and not account:
                raise NameBusy(name)
            if local is not None and local is not member and not account:
                raise NameBusy(name)
            self._names[key] = member
        message = f"{name} logged in from another connection; this one is closed"
        if local is not None and local is not member:
            local.evict("replaced", message)
        elif holder is not None:
            self.send_remote(holder, {"action": "evict", "reason": "replaced",
                                      "message": message})

    def name_online(self, name: str) -> bool:
        with self._lock:
            if name.casefold() in self._names:
                return True
        return self.backends.presence.owner_of(name) is not None

    def release_name(self, member: Member) -> None:
        name = member.name
        if name is None:
            return
        with self._lock:
            if self._names.get(name.casefold()) is member:
                del self._names[name.casefold()]
        self._guarded("release name",
                      lambda: self.backends.presence.release(name, self.owner(member)))

    def find_player(self, target: str) -> Member | None:
        """A player connected to this process, by connection id, owner id or name."""
        local_id = target.removeprefix(self.settings.instance + "/")
        with self._lock:
            return self.players.get(local_id) or self._names.get(target.casefold())

    def locate(self, target: str) -> str | None:
        """The owner id of a player on another process, by name or owner id."""
        if "/" in target:
            return target if any(s.get("owner") == target for s in self.sessions()) else None
        return self.backends.presence.owner_of(target)

    def send_remote(self, owner: str, payload: JSONDict) -> None:
        """Ask the process holding ``owner`` to act on that session (evict, deliver)."""
        instance, _, conn = owner.rpartition("/")
        self.backends.bus.publish(instance_channel(instance), dict(payload, conn=conn))

    def _on_control(self, payload: JSONDict) -> None:
        handler = self.control_handlers.get(str(payload.get("action")))
        if handler is not None:
            handler(payload)
            return
        with self._lock:
            member = self.players.get(str(payload.get("conn")))
        if member is None:
            return
        if payload.get("action") == "evict":
            member.evict(str(payload.get("reason", "replaced")), str(payload.get("message", "")))
        elif payload.get("action") == "deliver":
            member.conn.send_frame(frame_of(payload["msg"]))

    def publish_presence(self, member: Member) -> None:
        self._guarded("publish presence", lambda: self.backends.presence.refresh(
            {self.owner(member): member.info()}))

    def sessions(self) -> list[JSONDict]:
        """Every player session on every process (this one's read live)."""
        with self._lock:
            local = [m.info() for m in self.players.values()]
        mine = self.settings.instance
        try:
            remote = [s for s in self.backends.presence.sessions() if s.get("instance") != mine]
        except BackendError as exc:
            log("ERROR", f"list sessions: {escape(exc)}")
            remote = []
        return local + remote

    def online_names(self) -> list[str]:
        return sorted({s["name"] for s in self.sessions() if s.get("name")}, key=str.casefold)

    def _refresh_presence(self) -> None:
        while not self.stopped.wait(self.backends.presence.ttl / 3):
            with self._lock:
                entries = {self.owner(m): m.info() for m in self.players.values()}
            if entries:
                self._guarded("refresh presence",
                              functools.partial(self.backends.presence.refresh, entries))

    def resync(self) -> None:
        """After the bus reconnected: messages may have been lost, so re-read every room this
        process has members in, put the members back if the room forgot them, and resend each
        its round; republish presence."""
        with self._lock:
            rooms = {c: list(m) for c, m in self._channels.items() if c.startswith("room:")}
            members = list(self.players.values())
        for channel, local in rooms.items():
            room = channel.removeprefix("room:")
            names = [m.name for m in local if m.name]

            def rejoin(live: GuessRoom, names: list[str] = names) -> Transition:
                for name in names:
                    live.join(name)
                return Transition(value=(live.round, {n: live.tries_used(n) for n in names}))

            try:
                round_number, used = self.transact(room, rejoin)
            except BackendError as exc:
                log("ERROR", f"resync room {room}: {escape(exc)}")
                continue
            rules = self.settings.rules
            for member in local:
                if member.name:
                    member.conn.send(protocol.RoundStarted(
                        mode="multi", room=room, round=round_number, low=rules.low,
                        high=rules.high,
                        tries=rules.tries, tries_used=used.get(member.name, 0)))
        for member in members:
            self.publish_presence(member)
        log("CONNECTION", f"bus reconnected: {len(rooms)} rooms resynchronised")

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
            try:
                self.backends.bus.subscribe(channel,
                                            lambda payload: self._deliver(channel, payload))
            except BackendError:
                self.leave_channel(member, channel)
                raise

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
        started = time.perf_counter()
        with self._lock:
            members = list(self._channels.get(channel, ()))
        only, skip = payload.get("only"), payload.get("skip")
        frames = frames_of(payload)  # encoded once for every member
        if only is not None or skip is not None:
            members = [m for m in members if _addressed(m.name, only, skip)]
        send_to_many((member.conn for member in members), *frames)
        if only is None and len(members) > 1:
            self.last_broadcast = (len(members), time.perf_counter() - started)

    def broadcast_players(self, msg: protocol.Message) -> None:
        """Send ``msg`` to every player on every process (encoded once per process)."""
        self.backends.bus.publish(PLAYERS_CHANNEL, {"msg": msg.to_dict()})

    def _deliver_everyone(self, payload: JSONDict) -> None:
        frames = frames_of(payload)
        with self._lock:
            members = list(self.players.values())
        send_to_many((member.conn for member in members), *frames)

    # ------------------------------------------------------------------ admin events

    def admin_event(self, kind: str, text: str, log_as: str | None = "GAME",
                    **fields: str | None) -> None:
        """Tell every admin (on every process sharing the bus) that something happened;
        also log it under ``log_as`` unless the caller logged it already (None)."""
        if log_as is not None:
            log(log_as, f"{kind}: {escape(text)}")
        event = protocol.AdminEvent(kind=kind, at=clock_text(self.clock()), text=text[:2000],
                                    **fields)
        self._guarded(f"admin event {kind}", lambda: self.backends.bus.publish(
            ADMIN_CHANNEL, {"msg": event.to_dict()}))

    def _deliver_admin(self, payload: JSONDict) -> None:
        frames = frames_of(payload)
        with self._lock:
            admins = list(self.admins.values())
        send_to_many((admin.conn for admin in admins), *frames)

    # ------------------------------------------------------------------ rooms

    def new_room(self, name: str, mode: str) -> GuessRoom:
        rules = self.settings.rules
        return GuessRoom(name=name, mode=mode, rules=rules, secret=self.draw_secret(),
                         started=self.clock())

    def draw_secret(self) -> int:
        rules = self.settings.rules
        return rules.low + self._draws.below(rules.high - rules.low + 1)

    def live_rooms(self) -> list[GuessRoom]:
        return list(self.backends.rooms.rooms())

    def transact(self, room: str, change: Callable[[GuessRoom], Any]) -> Any:
        return self.backends.rooms.transact(room, lambda: self.new_room(room, "multi"), change)


def _addressed(name: str | None, only: str | None, skip: str | None) -> bool:
    """Whether a member called ``name`` gets a room message sent ``only``/``skip`` someone."""
    if only is not None and (name is None or name.casefold() != only):
        return False
    return skip is None or name is None or name.casefold() != skip


def envelope(*msgs: protocol.Message, only: str | None = None,
             skip: str | None = None) -> JSONDict:
    """The bus payload for room messages; ``only``/``skip`` name a player (case-folded).

    Several messages (a round's end and the next round's start) travel in one envelope, so
    they cost one publish and one pass over the members."""
    payload: JSONDict = ({"msg": msgs[0].to_dict()} if len(msgs) == 1 else
                         {"msgs": [msg.to_dict() for msg in msgs]})
    if only is not None:
        payload["only"] = only.casefold()
    if skip is not None:
        payload["skip"] = skip.casefold()
    return payload
