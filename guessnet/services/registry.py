"""Who is connected: admission, connection ids, names, players, admins and presence.

The registry knows the sessions of this process and, through ``Presence``, the names and
listings of every process.  A name is held by one session in the whole game: a guest gets
``NameBusy`` for a name in use; an account that logs in again takes its name over, and the older
session, wherever it is, is evicted (through the control protocol when it is elsewhere).
"""

from __future__ import annotations

import functools
import itertools
import secrets
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from guessnet import wire
from guessnet.net.conn import Connection
from guessnet.services.control import Control, Evict, RenameSession, split_owner
from guessnet.services.errors import NameBusy
from guessnet.services.ticker import Ticker
from guessnet.storage.base import BackendError, JSONDict, Presence
from guessnet.support.logs import escape, log
from guessnet.wire.closing import Close, close_of


class Listener(Protocol):
    """What the server needs of any session to deliver to it."""

    conn_id: str
    conn: Connection


class Member(Listener, Protocol):
    """A player session, as the registry and the services see it."""

    @property
    def name(self) -> str | None: ...

    def info(self) -> JSONDict:
        """This session's presence entry (listed by admins on every process)."""

    def evict(self, reason: Close, message: str) -> None:
        """Close this session from another thread, telling the player why."""

    def rename(self, new: str) -> None:
        """The host renamed the player (another thread): they play as ``new`` now."""

    def send(self, msg: wire.Message) -> None: ...

    def to_lobby(self) -> None:
        """Leave a guessing game, if in one, telling the player."""

    def enter_match(self, game: str) -> None:
        """The player now plays a match of ``game`` (its title)."""

    def leave_match(self) -> None:
        """The player's match ended: back to the lobby."""


@dataclass(frozen=True)
class Admission:
    max_connections: int = 10_000
    max_per_peer: int = 200


def guarded(what: str, action: Callable[[], object]) -> None:
    """Run a best-effort backend call: a backend outage is logged, never raised."""
    try:
        action()
    except BackendError as exc:
        log("ERROR", f"{what}: {escape(exc)}")


class Registry:
    """Callers use the public methods; nothing here blocks on a socket.  ``start`` begins the
    presence refresh (a thread), ``close`` stops it and waits for it."""

    def __init__(self, instance: str, presence: Presence, control: Control,
                 admission: Admission) -> None:
        self.instance = instance
        self.incarnation = secrets.token_hex(4)
        self.presence = presence
        self._control = control
        self._admission = admission
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self._players: dict[str, Member] = {}
        self._names: dict[str, Member] = {}
        self._admins: dict[str, Listener] = {}
        self._per_peer: dict[str, int] = defaultdict(int)
        self.shutting_down = False
        self._ticker = Ticker("presence", presence.ttl / 3, self.publish_all)
        control.on(Evict, self._on_evict)
        control.on(RenameSession, self._on_rename)

    def start(self) -> None:
        self._ticker.start()

    def close(self) -> None:
        self._ticker.close()

    # ------------------------------------------------------------------ connections

    def next_id(self) -> str:
        return str(next(self._ids))

    def owner(self, member: Listener) -> str:
        """The id of a session in the whole game: ``instance/connection-id.incarnation``.

        The incarnation is drawn anew by every run of the process, so an id never names two
        sessions, even when a restarted process reuses its instance name and counts its
        connections from 1 again."""
        return f"{self.instance}/{member.conn_id}.{self.incarnation}"

    def local(self, conn_ref: str) -> Member | None:
        """The session of this run that ``conn_ref`` (``connection-id.incarnation``, as in an
        owner id) names; None when it is gone or named a session of an earlier run."""
        conn_id, _, incarnation = conn_ref.partition(".")
        if incarnation != self.incarnation:
            return None
        with self._lock:
            return self._players.get(conn_id)

    def admit(self, peer_host: str) -> str | None:
        """Count a new player connection; return why it is refused, or None."""
        limits = self._admission
        with self._lock:
            if self.shutting_down:
                return "the server is shutting down"
            if len(self._players) >= limits.max_connections:
                return f"server full ({limits.max_connections} players): try again later"
            if self._per_peer[peer_host] >= limits.max_per_peer:
                return f"too many connections from {peer_host}"
            self._per_peer[peer_host] += 1
        return None

    def release(self, peer_host: str) -> None:
        with self._lock:
            self._per_peer[peer_host] -= 1
            if self._per_peer[peer_host] <= 0:
                del self._per_peer[peer_host]

    def players(self) -> list[Member]:
        with self._lock:
            return list(self._players.values())

    def admins(self) -> list[Listener]:
        with self._lock:
            return list(self._admins.values())

    def add_player(self, member: Member) -> None:
        with self._lock:
            self._players[member.conn_id] = member
        self.publish_presence(member)

    def unlist(self, member: Member) -> None:
        """The connection is gone (the seat may still be held for a resume)."""
        with self._lock:
            self._players.pop(member.conn_id, None)
        guarded("drop presence", lambda: self.presence.drop(self.owner(member)))

    def remove_player(self, member: Member) -> None:
        with self._lock:
            self._players.pop(member.conn_id, None)
        self.release_name(member)
        guarded("drop presence", lambda: self.presence.drop(self.owner(member)))

    def add_admin(self, admin: Listener) -> None:
        with self._lock:
            self._admins[admin.conn_id] = admin

    def remove_admin(self, admin: Listener) -> None:
        with self._lock:
            self._admins.pop(admin.conn_id, None)

    # ------------------------------------------------------------------ names

    def claim_name(self, member: Member, name: str, account: bool) -> None:
        """Make ``member`` the holder of ``name`` on every process (see the module
        docstring); raise ``NameBusy`` for a guest when the name is in use."""
        key = name.casefold()
        holder = self.presence.claim(name, self.owner(member), steal=account)
        with self._lock:
            local = self._names.get(key)
            if not account and (holder is not None or local not in (None, member)):
                raise NameBusy(name)
            self._names[key] = member
        message = f"{name} logged in from another connection; this one is closed"
        if local is not None and local is not member:
            local.evict(Close.REPLACED, message)
        elif holder is not None:
            instance, conn = split_owner(holder)
            self._control.try_send(instance, Evict(conn=conn, reason=Close.REPLACED.value,
                                                   message=message))

    def rebind(self, old: Member, new: Member) -> None:
        """A resumed session takes over ``old``'s name."""
        with self._lock:
            self._names = {k: (new if m is old else m) for k, m in self._names.items()}
        if new.name is not None:
            guarded("claim name", functools.partial(
                self.presence.claim, new.name, self.owner(new), steal=True))

    def forget(self, member: Member) -> None:
        """A held seat handed to another process: stop renewing its name (the new holder
        has claimed it) and listing it here."""
        with self._lock:
            self._names = {k: m for k, m in self._names.items() if m is not member}
            self._players.pop(member.conn_id, None)

    def adopt(self, member: Member) -> None:
        """``member`` resumed a seat handed over by another process: it holds its name now
        (taken over from the old holder, who let it go: nobody is evicted)."""
        if member.name is not None:
            with self._lock:
                self._names[member.name.casefold()] = member
            self.presence.claim(member.name, self.owner(member), steal=True)

    def release_name(self, member: Member) -> None:
        name = member.name
        if name is None:
            return
        with self._lock:
            if self._names.get(name.casefold()) is member:
                del self._names[name.casefold()]
        guarded("release name", lambda: self.presence.release(name, self.owner(member)))

    def name_online(self, name: str) -> bool:
        with self._lock:
            if name.casefold() in self._names:
                return True
        return self.presence.owner_of(name) is not None

    def find_player(self, target: str) -> Member | None:
        """A player connected to this process, by connection id, owner id or name."""
        if target.startswith(self.instance + "/"):
            return self.local(target.removeprefix(self.instance + "/"))
        with self._lock:
            return self._players.get(target) or self._names.get(target.casefold())

    def find_named(self, name: str) -> Member | None:
        """The player of this process who plays as ``name`` (never matched by id)."""
        with self._lock:
            member = self._names.get(name.casefold())
        return member if member is not None and member.name is not None else None

    def locate(self, target: str) -> str | None:
        """The owner id of a player on any process, by name or owner id."""
        if "/" in target:
            return target if any(s.get("owner") == target for s in self.sessions()) else None
        return self.presence.owner_of(target)

    def evict(self, target: str, reason: Close, message: str) -> tuple[str, str] | None:
        """Close the session of player ``target`` (a name, a connection id or an owner id)
        wherever it lives: here at once, on another process through the control protocol
        (``BackendError`` if the bus is down).  Who was closed (name or address) and their
        connection, or None when no such player is online."""
        local = self.find_player(target)
        if local is not None:
            local.evict(reason, message)
            return local.name or local.conn.peer, local.conn_id
        owner = self.locate(target)
        if owner is None:
            return None
        instance, conn = split_owner(owner)
        self._control.send(instance, Evict(conn=conn, reason=reason.value, message=message))
        return target, owner

    def rename(self, name: str, new: str) -> bool:
        """Rename the player called ``name`` wherever they play (``BackendError`` if the bus
        is down); False when nobody plays as ``name``."""
        local = self.find_named(name)
        if local is not None:
            local.rename(new)
            return True
        owner = self.presence.owner_of(name)
        if owner is None:
            return False
        instance, conn = split_owner(owner)
        self._control.send(instance, RenameSession(conn=conn, new=new))
        return True

    def _on_rename(self, msg: RenameSession) -> None:
        member = self.local(msg.conn)
        if member is not None:
            member.rename(msg.new)

    def _on_evict(self, msg: Evict) -> None:
        member = self.local(msg.conn)
        if member is None:  # gone, or a session of an earlier run: nobody else is hit
            log("CONNECTION", f"eviction of {escape(msg.conn)} ignored: no such session")
            return
        member.evict(close_of(msg.reason) or Close.KICKED, msg.message)

    # ------------------------------------------------------------------ presence

    def publish_presence(self, member: Member) -> None:
        guarded("publish presence", lambda: self.presence.refresh(
            {self.owner(member): member.info()}))

    def publish_all(self) -> None:
        """Write every local session's presence entry again, and renew the names of seats
        held for a resume (every ttl/3 seconds, and after a bus reconnect)."""
        with self._lock:
            entries = {self.owner(m): m.info() for m in self._players.values()}
            held = {m.name: self.owner(m) for m in self._names.values()
                    if m.name is not None and self._players.get(m.conn_id) is not m}
        if entries or held:
            guarded("refresh presence", functools.partial(self.presence.refresh, entries, held))

    def sessions(self) -> list[JSONDict]:
        """Every player session on every process (this one's read live)."""
        with self._lock:
            local = [m.info() for m in self._players.values()]
        try:
            remote = [s for s in self.presence.sessions() if s.get("instance") != self.instance]
        except BackendError as exc:
            log("ERROR", f"list sessions: {escape(exc)}")
            remote = []
        return local + remote

    def online_names(self) -> list[str]:
        return sorted({s["name"] for s in self.sessions() if s.get("name")}, key=str.casefold)
