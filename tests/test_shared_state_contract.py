"""One contract for every Bus, RoomStore, Presence and ChatLog backend (in memory and Redis), and a
check that every backend of an interface offers the same public methods.

Each test runs once per backend, through the interface alone; what a test needs to know of a
backend (how to cut its connection) comes from the fixture, never from a private attribute.
"""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from guessnet.games.guess import GuessRejected, GuessRoom, Rules
from guessnet.storage import (
    memcached_backend,
    memory,
    redis_backend,
    redis_counters,
    redis_store,
    sqlite,
)
from guessnet.storage.base import (
    Bus,
    ChatLog,
    Counters,
    JSONDict,
    Presence,
    RoomStore,
    Store,
    Transition,
    room_channel,
)

TIMEOUT = 5.0


class Inbox:
    """Payloads a bus handler received, with a wait that has a deadline."""

    def __init__(self) -> None:
        self.got: list[JSONDict] = []
        self._changed = threading.Condition()

    def __call__(self, payload: JSONDict) -> None:
        with self._changed:
            self.got.append(payload)
            self._changed.notify_all()

    def wait_for(self, count: int, timeout: float = TIMEOUT) -> list[JSONDict]:
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.got) >= count, timeout), \
                f"{len(self.got)} of {count} payloads within {timeout} s: {self.got}"
            return list(self.got)


def until(condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    """Poll ``condition`` (a backend's own clock decides it, e.g. an expiry) to a deadline."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"condition not met within {timeout} s"
        time.sleep(0.02)


@dataclass
class SharedState:
    """One backend family's bus, room store and presence, and a way to cut the bus."""

    bus: Bus
    rooms: RoomStore[GuessRoom]
    presence: Presence
    chatlog: ChatLog
    cut_bus: Callable[[], None] | None  # None: this bus has no connection to lose


@pytest.fixture(params=["memory", "redis"])
def shared(request: pytest.FixtureRequest) -> Iterator[SharedState]:
    if request.param == "memory":
        bus = memory.MemoryBus()
        yield SharedState(bus, memory.MemoryRoomStore(bus, GuessRoom.from_dict),
                          memory.MemoryPresence(ttl=1.0), memory.MemoryChatLog(), None)
        bus.close()
        return
    url = request.getfixturevalue("redis_url")
    client = redis_backend.connect(url)
    admin = redis_backend.connect(url)
    redis_bus = redis_backend.RedisBus(client)

    def cut_bus() -> None:
        admin.client_kill_filter(_type="pubsub")

    yield SharedState(redis_bus, redis_backend.RedisRoomStore(client, GuessRoom.from_dict),
                      redis_backend.RedisPresence(client, ttl=1.0),
                      redis_backend.RedisChatLog(client), cut_bus)
    redis_bus.close()
    client.close()
    admin.close()


# ----------------------------------------------------------------------------- bus

def test_bus_delivers_in_order_to_the_channels_handler(shared: SharedState) -> None:
    early, other = Inbox(), Inbox()
    shared.bus.subscribe("early", early)  # before start: remembered
    shared.bus.start()
    shared.bus.subscribe("other", other)
    for i in range(50):
        shared.bus.publish("early", {"n": i})
    shared.bus.publish("other", {"n": "x"})
    assert [p["n"] for p in early.wait_for(50)] == list(range(50))
    assert other.wait_for(1) == [{"n": "x"}]
    shared.bus.publish("nobody-listens", {"n": 0})  # no subscriber: dropped, no error


def test_bus_subscribe_replaces_and_unsubscribe_stops(shared: SharedState) -> None:
    shared.bus.start()
    first, second, marker = Inbox(), Inbox(), Inbox()
    shared.bus.subscribe("chan", first)
    shared.bus.subscribe("chan", second)
    shared.bus.subscribe("marker", marker)
    shared.bus.publish("chan", {"n": 1})
    assert second.wait_for(1) == [{"n": 1}]
    shared.bus.unsubscribe("chan")
    shared.bus.publish("chan", {"n": 2})
    shared.bus.publish("marker", {"n": 3})  # published after: delivered after, in order
    marker.wait_for(1)
    assert first.got == [] and second.got == [{"n": 1}]


def test_bus_resubscribes_and_calls_its_hooks_after_a_lost_connection(
        shared: SharedState) -> None:
    reconnected = threading.Event()
    lost: list[float] = []
    inbox = Inbox()

    def hook(lost_at: float) -> None:
        lost.append(lost_at)
        reconnected.set()

    shared.bus.on_reconnect(hook)
    shared.bus.subscribe("chan", inbox)
    shared.bus.start()
    if shared.cut_bus is not None:
        cut_at = time.time()
        shared.cut_bus()
        assert reconnected.wait(TIMEOUT), "no reconnect hook call after the cut"
        assert cut_at - 1 <= lost[0] <= time.time()  # when it was lost, give or take
    else:
        assert not reconnected.is_set()  # nothing to lose, nothing to report
    shared.bus.publish("chan", {"n": 1})
    assert inbox.wait_for(1) == [{"n": 1}]


# ----------------------------------------------------------------------------- rooms

def fresh_room(name: str) -> GuessRoom:
    return GuessRoom(name=name, mode="multi", rules=Rules(1, 10, 3), secret=4)


def join(*names: str) -> Callable[[GuessRoom], Transition[list[str]]]:
    def change(room: GuessRoom) -> Transition[list[str]]:
        for name in names:
            room.join(name)
        return Transition(value=room.players,
                          broadcasts=[{"joined": name} for name in names])
    return change


def listed(rooms: RoomStore[GuessRoom]) -> dict[str, list[str]]:
    return {room.name: room.players for room in rooms.rooms()}


def test_room_transaction_creates_stores_and_broadcasts_in_order(shared: SharedState) -> None:
    inbox = Inbox()
    shared.bus.subscribe(room_channel("r1"), inbox)
    shared.bus.start()
    assert shared.rooms.transact("r1", lambda: fresh_room("r1"), join("ann", "bob")) == \
        ["ann", "bob"]
    assert shared.rooms.transact("r1", lambda: fresh_room("r1"), join("cy")) == \
        ["ann", "bob", "cy"]
    assert inbox.wait_for(3) == [{"joined": "ann"}, {"joined": "bob"}, {"joined": "cy"}]
    assert listed(shared.rooms) == {"r1": ["ann", "bob", "cy"]}


def test_room_snapshots_do_not_change_the_room(shared: SharedState) -> None:
    shared.rooms.transact("r1", lambda: fresh_room("r1"), join("ann"))
    snapshot = next(iter(shared.rooms.rooms()))
    snapshot.join("mallory")
    assert listed(shared.rooms) == {"r1": ["ann"]}


def test_refused_room_change_leaves_no_trace(shared: SharedState) -> None:
    inbox = Inbox()
    shared.bus.subscribe(room_channel("r1"), inbox)
    shared.bus.start()
    shared.rooms.transact("r1", lambda: fresh_room("r1"), join("ann"))

    def out_of_range(room: GuessRoom) -> Transition[None]:
        room.guess("ann", 99, 1.0, 5)  # refused by the rules before anything changes
        return Transition(None, broadcasts=[{"guessed": 99}])

    with pytest.raises(GuessRejected):
        shared.rooms.transact("r1", lambda: fresh_room("r1"), out_of_range)
    shared.rooms.transact("r1", lambda: fresh_room("r1"), join("cy"))
    assert inbox.wait_for(2) == [{"joined": "ann"}, {"joined": "cy"}]
    assert listed(shared.rooms) == {"r1": ["ann", "cy"]}
    assert next(iter(shared.rooms.rooms())).tries_used("ann") == 0


def test_a_room_left_empty_disappears(shared: SharedState) -> None:
    shared.rooms.transact("r1", lambda: fresh_room("r1"), join("ann"))
    shared.rooms.transact("r2", lambda: fresh_room("r2"), join("bob"))

    def leave(room: GuessRoom) -> Transition[None]:
        room.leave("ann", 1.0, 5)
        return Transition(None)

    shared.rooms.transact("r1", lambda: fresh_room("r1"), leave)
    assert listed(shared.rooms) == {"r2": ["bob"]}
    rebuilt = shared.rooms.transact("r1", lambda: fresh_room("r1"),
                                    lambda room: Transition(value=room.round))
    assert rebuilt == 1 and "r1" not in listed(shared.rooms)


def test_concurrent_room_changes_all_land(shared: SharedState) -> None:
    failures: list[BaseException] = []

    def joiner(worker: int) -> None:
        try:
            for i in range(10):
                shared.rooms.transact("busy", lambda: fresh_room("busy"),
                                      join(f"p{worker}-{i}"))
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=joiner, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not failures
    assert len(listed(shared.rooms)["busy"]) == 60


# ----------------------------------------------------------------------------- presence

def test_names_are_claimed_stolen_and_released_by_their_owner(shared: SharedState) -> None:
    presence = shared.presence
    assert presence.claim("Ann", "a/1", steal=False) is None
    assert presence.claim("ANN", "a/1", steal=False) is None  # already ours
    assert presence.claim("ann", "b/7", steal=False) == "a/1"  # a guest is refused
    assert presence.owner_of("aNN") == "a/1"
    assert presence.claim("ann", "b/7", steal=True) == "a/1"  # an account takes over
    assert presence.owner_of("ann") == "b/7"
    presence.release("ann", "a/1")  # not the holder any more: no effect
    assert presence.owner_of("ann") == "b/7"
    presence.release("ann", "b/7")
    assert presence.owner_of("ann") is None


def test_sessions_are_listed_refreshed_and_dropped(shared: SharedState) -> None:
    presence = shared.presence
    presence.refresh({"a/1": {"owner": "a/1", "name": "ann"}, "a/2": {"owner": "a/2"}})
    assert sorted(s["owner"] for s in presence.sessions()) == ["a/1", "a/2"]
    assert presence.owner_of("ann") == "a/1"  # a refreshed entry renews its name
    presence.refresh({"a/2": {"owner": "a/2", "name": "bob"}})
    assert {s["owner"]: s.get("name") for s in presence.sessions()} == \
        {"a/1": "ann", "a/2": "bob"}
    presence.drop("a/1")
    assert [s["owner"] for s in presence.sessions()] == ["a/2"]


def test_held_names_are_renewed_without_a_listing(shared: SharedState) -> None:
    presence = shared.presence
    presence.claim("ann", "a/1.x", steal=False)
    deadline = time.monotonic() + presence.ttl * 2.5
    while time.monotonic() < deadline:  # renewed well inside the ttl, as the registry does
        presence.refresh({}, held={"ann": "a/1.x"})
        assert presence.owner_of("ann") == "a/1.x"
        time.sleep(presence.ttl / 4)
    assert presence.sessions() == []


def test_entries_expire_after_ttl_unless_refreshed(shared: SharedState) -> None:
    presence = shared.presence
    assert presence.ttl == 1.0
    presence.claim("ghost", "dead/1", steal=False)
    presence.refresh({"dead/1": {"owner": "dead/1", "name": "ghost"}})
    until(lambda: not presence.sessions() and presence.owner_of("ghost") is None,
          timeout=presence.ttl + TIMEOUT)
    assert presence.claim("ghost", "live/1", steal=False) is None


def test_a_held_seat_is_found_by_its_token_until_it_expires(shared: SharedState) -> None:
    presence = shared.presence
    assert presence.seat_holder("f00d") is None
    presence.hold_seat("f00d", "A", 0.5)
    presence.hold_seat("beef", "B", 30)
    assert presence.seat_holder("f00d") == "A" and presence.seat_holder("beef") == "B"
    until(lambda: presence.seat_holder("f00d") is None, timeout=0.5 + TIMEOUT)
    assert presence.seat_holder("beef") == "B"


def test_a_chat_log_keeps_each_channels_last_lines_in_order(shared: SharedState) -> None:
    log = shared.chatlog
    assert log.recent("room:empty") == []
    for i in range(ChatLog.LINES + 5):
        log.add("room:a", {"sender": "ann", "text": f"line {i}"})
    log.add("lobby", {"sender": "bob", "text": "hi"})
    assert [line["text"] for line in log.recent("room:a")] == \
        [f"line {i}" for i in range(5, ChatLog.LINES + 5)]
    assert log.recent("lobby") == [{"sender": "bob", "text": "hi"}]


# ----------------------------------------------------------------------------- same methods

# Public methods a backend may have beyond its interface, and why.
EXTRAS: dict[type, set[str]] = {
    # tests and an operator force a reconnection attempt instead of waiting DEAD_RETRY
    memcached_backend.MemcachedCounters: {"retry_now"},
}


def public_methods(cls: type) -> set[str]:
    return {name for name, value in inspect.getmembers(cls, callable)
            if not name.startswith("_")}


@pytest.mark.parametrize(("interface", "backends"), [
    (Store, [sqlite.SQLiteStore, redis_store.RedisStore]),
    (Counters, [memory.MemoryCounters, memcached_backend.MemcachedCounters,
                redis_counters.RedisCounters]),
    (Bus, [memory.MemoryBus, redis_backend.RedisBus]),
    (RoomStore, [memory.MemoryRoomStore, redis_backend.RedisRoomStore]),
    (Presence, [memory.MemoryPresence, redis_backend.RedisPresence]),
    (ChatLog, [memory.MemoryChatLog, redis_backend.RedisChatLog]),
])
def test_every_backend_offers_its_interfaces_methods_and_no_others(
        interface: type, backends: list[type]) -> None:
    expected = public_methods(interface)
    for backend in backends:
        assert not inspect.isabstract(backend), f"{backend.__name__} leaves methods abstract"
        assert public_methods(backend) - EXTRAS.get(backend, set()) == expected, backend
