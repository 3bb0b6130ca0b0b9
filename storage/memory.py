"""In-process backends: bus, live rooms and counters for a single server process."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

from games.guess import GuessRoom
from storage.base import (
    Bus,
    Counters,
    Handler,
    JSONDict,
    Presence,
    RoomStore,
    Transition,
    name_key,
    room_channel,
)


class MemoryBus(Bus):
    """Delivers each publish synchronously to this process's subscribers."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._lock = threading.Lock()

    def publish(self, channel: str, payload: JSONDict) -> None:
        with self._lock:
            handlers = list(self._handlers.get(channel, ()))
        for handler in handlers:
            handler(payload)

    def subscribe(self, channel: str, handler: Handler) -> None:
        with self._lock:
            self._handlers[channel].append(handler)

    def unsubscribe(self, channel: str) -> None:
        with self._lock:
            self._handlers.pop(channel, None)


class MemoryRoomStore(RoomStore):
    """Rooms in a dict; one lock per room keeps transitions atomic and broadcasts ordered."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._rooms: dict[str, GuessRoom] = {}
        self._locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
        self._registry_lock = threading.Lock()

    def _lock_for(self, name: str) -> threading.Lock:
        with self._registry_lock:
            return self._locks[name]

    def transact(self, name: str, create: Callable[[], GuessRoom],
                 change: Callable[[GuessRoom], Transition]) -> Any:
        with self._lock_for(name):
            room = self._rooms.get(name)
            if room is None:
                room = create()
                self._rooms[name] = room
            outcome = change(room)
            for payload in outcome.broadcasts or ():
                self._bus.publish(room_channel(name), payload)
            return outcome.value

    def rooms(self) -> Iterator[GuessRoom]:
        with self._registry_lock:
            names = list(self._rooms)
        for name in names:
            with self._lock_for(name):
                room = self._rooms.get(name)
                snapshot = GuessRoom.from_dict(room.to_dict()) if room else None
            if snapshot is not None:
                yield snapshot


class MemoryCounters(Counters):
    def __init__(self) -> None:
        self._values: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()

    def incr(self, key: str, by: int = 1) -> None:
        with self._lock:
            self._values[key] += by

    def get(self, key: str) -> int | None:
        with self._lock:
            return self._values.get(key, 0)


class MemoryPresence(Presence):
    """Presence for one process: names and sessions in dicts (nothing to expire)."""

    def __init__(self) -> None:
        self._names: dict[str, str] = {}
        self._sessions: dict[str, JSONDict] = {}
        self._lock = threading.Lock()

    def claim(self, name: str, owner: str, steal: bool) -> str | None:
        with self._lock:
            holder = self._names.get(name_key(name))
            if holder is None or holder == owner or steal:
                self._names[name_key(name)] = owner
            return holder if holder != owner else None

    def release(self, name: str, owner: str) -> None:
        with self._lock:
            if self._names.get(name_key(name)) == owner:
                del self._names[name_key(name)]

    def refresh(self, sessions: dict[str, JSONDict]) -> None:
        with self._lock:
            self._sessions.update(sessions)

    def drop(self, owner: str) -> None:
        with self._lock:
            self._sessions.pop(owner, None)

    def sessions(self) -> list[JSONDict]:
        with self._lock:
            return list(self._sessions.values())

    def owner_of(self, name: str) -> str | None:
        with self._lock:
            return self._names.get(name_key(name))
