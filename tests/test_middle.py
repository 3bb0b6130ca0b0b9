"""The middle layer without sockets: places, the control protocol, and the composition root."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guessnet.games.guess import GuessRoom
from guessnet.net import wakeup
from guessnet.services import control
from guessnet.services.composition import Backends, Settings, build
from guessnet.sessions import place
from guessnet.sessions.place import Place, PlaceError
from guessnet.sessions.player_kit import player_kit
from guessnet.storage.memory import MemoryBus, MemoryCounters, MemoryPresence, MemoryRoomStore
from guessnet.storage.sqlite import SQLiteStore


@pytest.mark.parametrize(("current", "target"), list(itertools.product(Place, Place)))
def test_every_move_between_places_is_allowed_or_refused(current: Place, target: Place) -> None:
    if target in place.MOVES[current]:
        assert place.move(current, target) is target
    else:
        with pytest.raises(PlaceError, match=f"from {current.name} to {target.name}"):
            place.move(current, target)


def test_places_a_player_can_reach() -> None:
    assert place.MOVES[Place.ANONYMOUS] == {Place.LOBBY}  # a name first, always
    assert Place.SINGLE not in place.MOVES[Place.MATCH]  # a match ends before a game
    assert all(Place.ANONYMOUS in place.MOVES[p] for p in Place if p is not Place.ANONYMOUS)
    assert [p.value for p in Place] == ["-", "lobby", "single", "multi", "match", "watching"]


EXAMPLES: list[control.ControlMessage] = [
    control.Evict(conn="7", reason="replaced", message="bye"),
    control.Deliver(conn="7", msg={"type": "notice", "text": "hi", "sender": "admin"}),
    control.MatchInvite(to="bob", sender="ann", sender_owner="A/3", game="tictactoe"),
    control.MatchAnswer(inviter="ann", invitee="bob", invitee_owner="B/4", accept=True,
                        message="bob accepted"),
    control.MatchCancel(invitee="bob", outcome="timeout", message="too late"),
    control.MatchSeat(player="bob", host=None),
    control.MatchSeat(player="bob", host="A/3", game="tic-tac-toe"),
    control.MatchOp(player="bob", op="move", cell="b2"),
]


@pytest.mark.parametrize("msg", EXAMPLES, ids=lambda m: type(m).__name__)
def test_control_messages_round_trip(msg: control.ControlMessage) -> None:
    assert control.decode(control.encode(msg)) == msg
    assert control.encode(msg)["action"] == msg.KIND


@pytest.mark.parametrize("payload", [
    {}, {"action": "format_disk"}, {"action": 3},
    {"action": "evict", "conn": "7", "reason": "x"},  # missing message
    {"action": "evict", "conn": 7, "reason": "x", "message": "y"},  # wrong type
    {"action": "ttt_answer", "inviter": "a", "invitee": "b", "invitee_owner": "",
     "accept": "yes", "message": ""},
    {"action": "deliver", "conn": "1", "msg": ["not", "an", "object"]},
])
def test_malformed_control_payloads_never_reach_a_handler(payload: dict[str, object]) -> None:
    with pytest.raises(control.ControlDecodeError):
        control.decode(payload)


@given(st.dictionaries(st.sampled_from(["action", "conn", "reason", "message", "to", "host",
                                         "accept", "msg", "player", "op"]),
                       st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5),
                                 st.sampled_from(sorted(control.KINDS)))))
def test_control_decoding_yields_a_typed_message_or_its_own_error(
        payload: dict[str, object]) -> None:
    try:
        msg = control.decode(payload)
    except control.ControlDecodeError:
        return
    assert isinstance(msg, control.ControlMessage) and msg.KIND == payload["action"]


def test_control_routes_each_type_to_its_one_handler() -> None:
    bus = MemoryBus()
    router = control.Control(bus, "A")
    got: list[control.Evict] = []
    router.on(control.Evict, got.append)
    with pytest.raises(ValueError):
        router.on(control.Evict, got.append)
    router.start()
    router.send("A", control.Evict(conn="1", reason="kicked", message="bye"))
    router.send("B", control.Evict(conn="2", reason="kicked", message="elsewhere"))
    bus.publish("instance:A", {"action": "evict"})  # malformed: logged and dropped
    assert got == [control.Evict(conn="1", reason="kicked", message="bye")]


def services_threads() -> set[str]:
    names = {"presence", "resume-tokens", "invitations", "departures", "journal"}
    return {t.name for t in threading.enumerate() if t.name in names}


def test_building_starts_no_thread_and_close_joins_them(tmp_path: Path) -> None:
    folder = tmp_path
    bus = MemoryBus()
    backends = Backends(store=SQLiteStore(folder / "db.sqlite3"),
                        rooms=MemoryRoomStore(bus, GuessRoom.from_dict), bus=bus,
                        counters=MemoryCounters(), presence=MemoryPresence())
    before = services_threads()
    services = build(Settings(data_dir=folder), backends, wakeup.PortableWakeup())
    assert services_threads() == before
    services.start()
    assert services_threads() - before == {"presence", "invitations", "departures", "journal"}
    kit = player_kit(30.0)  # the players' resume tokens: started and closed with the services
    kit.resume.start()
    assert "resume-tokens" in services_threads()
    kit.resume.close()
    services.close()
    assert services_threads() == before
    backends.close()


def test_the_secret_source_is_the_one_handed_in(tmp_path: Path) -> None:
    bus = MemoryBus()
    backends = Backends(store=SQLiteStore(tmp_path / "db.sqlite3"),
                        rooms=MemoryRoomStore(bus, GuessRoom.from_dict), bus=bus,
                        counters=MemoryCounters(), presence=MemoryPresence())

    class Counting:
        def __init__(self) -> None:
            self.calls: list[int] = []

        def below(self, n: int) -> int:
            self.calls.append(n)
            return n - 1

    source = Counting()
    draw: Callable[[], int] = build(Settings(data_dir=tmp_path), backends, wakeup.PortableWakeup(),
                                    source).rooms.draw_secret
    assert [draw(), draw()] == [10, 10] and source.calls == [10, 10]
    backends.close()
