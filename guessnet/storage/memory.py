"""In-process backends: bus, live rooms and counters for a single server process."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping

from guessnet.storage.base import (
    Bus,
    ChatLog,
    Counters,
    Handler,
    JSONDict,
    Presence,
    R,
    RoomStore,
    T,
    Transition,
    name_key,
    room_channel,
)


class MemoryBus(Bus):
    """Delivers each publish synchronously to this process's subscriber of the channel.

    It never loses a connection, so it never calls its reconnect hooks."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.Lock()

    def publish(self, channel: str, payload: JSONDict) -> None:
        with self._lock:
            handler = self._handlers.get(channel)
        if handler is not None:
            handler(payload)

    def subscribe(self, channel: str, handler: Handler) -> None:
        with self._lock:
            self._handlers[channel] = handler

    def unsubscribe(self, channel: str) -> None:
        with self._lock:
            self._handlers.pop(channel, None)

    def on_reconnect(self, hook: Callable[[float], None]) -> None:
        """Nothing to do: an in-process bus is never disconnected."""


class MemoryRoomStore(RoomStore[R]):
    """Rooms in a dict; one lock per room keeps transitions atomic and broadcasts ordered."""

    def __init__(self, bus: Bus, load: Callable[[JSONDict], R]) -> None:
        self._bus = bus
        self._load = load
        self._rooms: dict[str, R] = {}
        self._locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
        self._registry_lock = threading.Lock()

    def _lock_for(self, name: str) -> threading.Lock:
        with self._registry_lock:
            return self._locks[name]

    def transact(self, name: str, create: Callable[[], R],
                 change: Callable[[R], Transition[T]]) -> T:
        with self._lock_for(name):
            room = self._rooms.get(name)
            if room is None:
                room = create()
                self._rooms[name] = room
            outcome = change(room)
            if room.vacant:
                del self._rooms[name]
            for payload in outcome.broadcasts or ():
                self._bus.publish(room_channel(name), payload)
            return outcome.value

    def rooms(self, skipped: Callable[[str, Exception], None] | None = None) -> Iterator[R]:
        with self._registry_lock:
            names = list(self._rooms)
        for name in names:
            try:
                with self._lock_for(name):
                    room = self._rooms.get(name)
                    snapshot = self._load(room.to_dict()) if room else None
            except Exception as exc:
                if skipped is not None:
                    skipped(name, exc)
                continue
            if snapshot is not None:
                yield snapshot


class MemoryCounters(Counters):
    def __init__(self) -> None:
        self._values: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()

    def incr(self, key: str, by: int = 1) -> None:
        with self._lock:
            self._values[key] += by

    def incr_each(self, keys: Iterable[str]) -> None:
        with self._lock:
            values = self._values
            for key in keys:
                values[key] += 1

    def get(self, key: str) -> int | None:
        with self._lock:
            return self._values.get(key, 0)


class MemoryPresence(Presence):
    """Presence for one process: names and sessions in dicts, each entry expiring ``ttl``
    seconds after it was last written, as in the shared backends."""

    def __init__(self, ttl: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._names: dict[str, tuple[str, float]] = {}  # name key -> (owner, expires)
        self._sessions: dict[str, tuple[JSONDict, float]] = {}  # owner -> (entry, expires)
        self._seats: dict[str, tuple[str, float]] = {}  # token hash -> (instance, expires)
        self._lock = threading.Lock()

    def _live_owner(self, key: str) -> str | None:
        """The name's holder unless its entry expired (call with the lock)."""
        held = self._names.get(key)
        if held is None:
            return None
        if held[1] <= self._clock():
            del self._names[key]
            return None
        return held[0]

    def claim(self, name: str, owner: str, steal: bool) -> str | None:
        key = name_key(name)
        with self._lock:
            holder = self._live_owner(key)
            if holder is None or holder == owner or steal:
                self._names[key] = (owner, self._clock() + self.ttl)
            return holder if holder != owner else None

    def release(self, name: str, owner: str) -> None:
        key = name_key(name)
        with self._lock:
            if self._live_owner(key) == owner:
                del self._names[key]

    def refresh(self, sessions: dict[str, JSONDict],
                held: Mapping[str, str] | None = None) -> None:
        expires = self._clock() + self.ttl
        with self._lock:
            for owner, info in sessions.items():
                self._sessions[owner] = (info, expires)
                if info.get("name"):
                    self._names[name_key(info["name"])] = (owner, expires)
            for name, owner in (held or {}).items():
                self._names[name_key(name)] = (owner, expires)

    def drop(self, owner: str) -> None:
        with self._lock:
            self._sessions.pop(owner, None)

    def hold_seat(self, token_hash: str, instance: str, seconds: float) -> None:
        now = self._clock()
        with self._lock:
            seats = self._seats
            # Kept in the order they expire (one grace for every seat of a process), so the
            # expired ones are at the front: dropped there, not by a scan of every seat at
            # every disconnection (2,000 players cut at once: 4 million steps).
            seats.pop(token_hash, None)
            seats[token_hash] = (instance, now + seconds)
            while seats:
                first = next(iter(seats))
                if seats[first][1] > now:
                    break
                del seats[first]

    def seat_holder(self, token_hash: str) -> str | None:
        with self._lock:
            held = self._seats.get(token_hash)
        return held[0] if held is not None and held[1] > self._clock() else None

    def sessions(self) -> list[JSONDict]:
        now = self._clock()
        with self._lock:
            for owner in [o for o, (_, expires) in self._sessions.items() if expires <= now]:
                del self._sessions[owner]
            return [info for info, _ in self._sessions.values()]

    def owner_of(self, name: str) -> str | None:
        with self._lock:
            return self._live_owner(name_key(name))


class MemoryChatLog(ChatLog):
    """The last lines of each channel of this process, in deques."""

    def __init__(self) -> None:
        self._lines: dict[str, deque[JSONDict]] = {}
        self._lock = threading.Lock()

    def add(self, channel: str, line: JSONDict) -> None:
        with self._lock:
            self._lines.setdefault(channel, deque(maxlen=self.LINES)).append(line)

    def recent(self, channel: str) -> list[JSONDict]:
        with self._lock:
            return list(self._lines.get(channel, ()))
