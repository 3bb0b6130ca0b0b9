"""Rooms never stall: a round's time runs out, and a dropped player is not waited for."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import protocol
from guessnet.games.guess import GuessRoom, Rules
from guessnet.services.channels import envelope
from guessnet.services.records import Recorded
from guessnet.services.rooms import Rooms, SecretDraws
from guessnet.storage.base import Transition, room_channel
from guessnet.storage.memory import MemoryBus, MemoryRoomStore
from tests.conftest import Running
from tests.test_reliability import named


def misses(srv: Running, count: int) -> list[int]:
    secret = srv.room_secret()
    return [v for v in range(1, 11) if v != secret][:count]


def test_round_ends_for_everyone_when_its_time_is_up(make_server: Callable[..., Running]
                                                     ) -> None:
    srv = make_server("--round-time", "1")
    ann, bob = srv.player("ann"), srv.player("bob")
    started = ann.request(protocol.Play(mode="multi"), protocol.RoundStarted)
    assert (started.time_limit, started.time_left) == (1, None)  # no guess yet: no clock
    bob.request(protocol.Play(mode="multi"), protocol.RoundStarted)
    ann.request(protocol.Guess(value=misses(srv, 1)[0]), protocol.Hint)
    guessed = time.monotonic()
    for peer in (ann, bob):
        ended = peer.expect(protocol.RoundEnded, timeout=5)
        assert (ended.outcome, ended.winner, ended.secret) == ("timeout", None, srv.room_secret())
        assert ended.game_id is not None  # recorded like any other end
        nxt = peer.expect(protocol.RoundStarted)
        assert nxt.round == 2 and nxt.tries_used == 0
    assert 1.0 <= time.monotonic() - guessed < 4.0
    assert ended.game_id is not None
    game = srv.backends.store.get_game(ended.game_id)
    assert game is not None and game["outcome"] == "timeout"


def test_joining_mid_round_is_told_the_time_left(make_server: Callable[..., Running]) -> None:
    srv = make_server("--round-time", "60")
    ann, bob = srv.player("ann"), srv.player("bob")
    ann.request(protocol.Play(mode="multi"), protocol.RoundStarted)
    ann.request(protocol.Guess(value=misses(srv, 1)[0]), protocol.Hint)
    started = bob.request(protocol.Play(mode="multi"), protocol.RoundStarted)
    assert started.time_limit == 60 and started.time_left is not None
    assert 55 <= started.time_left <= 60


def test_single_player_has_no_round_time(make_server: Callable[..., Running]) -> None:
    srv = make_server("--round-time", "60")
    ann = srv.player("ann")
    started = ann.request(protocol.Play(mode="single"), protocol.RoundStarted)
    assert (started.time_limit, started.time_left) == (None, None)


def test_round_time_zero_turns_it_off(make_server: Callable[..., Running]) -> None:
    srv = make_server("--round-time", "0")
    ann = srv.player("ann")
    assert ann.request(protocol.Play(mode="multi"), protocol.RoundStarted).time_limit is None


def test_dropped_player_is_announced_and_not_waited_for(make_server: Callable[..., Running]
                                                        ) -> None:
    srv = make_server("--resume-grace", "30", "--tries", "2")
    ann = srv.player("ann")
    bob, token = named(srv, "bob")
    ann.request(protocol.Play(mode="multi"), protocol.RoundStarted)
    bob.request(protocol.Play(mode="multi"), protocol.RoundStarted)
    bob.close()  # the Wi-Fi drops
    away = ann.expect(protocol.RoomUpdate, lambda u: u.event == "away")
    assert (away.name, away.seconds) == ("bob", 30)
    first, second = misses(srv, 2)
    ann.request(protocol.Guess(value=first), protocol.Hint)
    ann.request(protocol.Guess(value=second), protocol.Hint)
    ended = ann.expect(protocol.RoundEnded)  # bob, away with tries left, held nothing
    assert ended.outcome == "failed" and ended.round == 1
    back = srv.player()
    back.hello()
    back.request(protocol.Resume(token=token), protocol.Identified)
    started = back.expect(protocol.RoundStarted)
    assert (started.round, started.tries_used) == (2, 0)  # the seat came through the round
    assert ann.expect(protocol.RoomUpdate, lambda u: u.event == "back").name == "bob"


def test_a_drop_ends_the_round_only_the_dropped_player_held(
        make_server: Callable[..., Running]) -> None:
    srv = make_server("--resume-grace", "30", "--tries", "2")
    ann = srv.player("ann")
    bob, _ = named(srv, "bob")
    ann.request(protocol.Play(mode="multi"), protocol.RoundStarted)
    bob.request(protocol.Play(mode="multi"), protocol.RoundStarted)
    for value in misses(srv, 2):
        ann.request(protocol.Guess(value=value), protocol.Hint)
    bob.close()
    ended = ann.expect(protocol.RoundEnded)
    assert ended.outcome == "failed"
    assert ann.expect(protocol.RoundStarted).round == 2


def heard_names(payloads: list[dict[str, Any]]) -> list[list[str]]:
    """What each broadcast told: the names in its room updates, or the kinds of the rest."""
    return [[m.get("name") or m["type"] for m in p.get("msgs", [p.get("msg")])]
            for p in payloads]


def test_a_burst_of_drops_is_told_together_and_a_quick_return_not_at_all() -> None:
    """A class's Wi-Fi drops: the first ``away`` goes out at once, those within ``GATHER``
    are held, then go out together with the room's next broadcast or once the oldest has
    waited ``GATHER``; a player back before theirs went out is never announced."""
    bus, now = MemoryBus(), [1000.0]
    heard: list[dict[str, Any]] = []
    bus.subscribe(room_channel("main"), heard.append)
    rooms = Rooms(MemoryRoomStore(bus, GuessRoom.from_dict), Rules(), None,  # type: ignore[arg-type]
                  SecretDraws(), record=lambda finished: Recorded(None), clock=lambda: now[0])

    def at(when: float, change: Callable[[GuessRoom], Transition[Any]]) -> Any:
        now[0] = 1000.0 + when
        return rooms.transact("main", change)

    def away(name: str) -> Callable[[GuessRoom], Transition[None]]:
        update = protocol.RoomUpdate(room="main", name=name, event="away", seconds=30)
        return lambda live: Transition(None, rooms.tell_soon(live, update, skip=name))

    def join_all(live: GuessRoom) -> Transition[None]:
        for name in ("ann", "bob", "cy", "di", "ed"):
            live.join(name)
        return Transition(None)

    at(0.0, join_all)
    at(0.0, away("bob"))
    assert heard_names(heard) == [["bob"]] and heard[0]["skip"] == "bob"
    at(0.1, away("cy"))
    at(0.2, away("di"))
    assert len(heard) == 1  # held
    assert at(0.2, lambda live: Transition(rooms.unhold(live, "di")))  # di is back already
    notice = protocol.Notice(text="the host speaks")
    at(0.3, lambda live: Transition(None, [envelope(notice)]))
    assert heard_names(heard)[1:] == [["cy"], ["notice"]]  # cy's first, in the same step
    at(0.35, away("ed"))
    at(0.5, lambda live: Transition(None))
    assert len(heard) == 3  # held 0.15 s: not yet
    at(0.6, lambda live: Transition(None))
    assert heard_names(heard)[3:] == [["ed"]]


def test_players_dropping_together_are_all_announced(make_server: Callable[..., Running]
                                                      ) -> None:
    srv = make_server("--resume-grace", "30")
    ann = srv.player("ann")
    ann.request(protocol.Play(mode="multi"), protocol.RoundStarted)
    others = [named(srv, name)[0] for name in ("bob", "cy", "di")]
    for peer in others:
        peer.request(protocol.Play(mode="multi"), protocol.RoundStarted)
    for peer in others:
        peer.close()  # the classroom's Wi-Fi drops
    # the first is told at once, the others held back: the round clock's tick sends them,
    # since nothing else happens in the room
    gone = {ann.expect(protocol.RoomUpdate, lambda u: u.event == "away", timeout=5).name
            for _ in others}
    assert gone == {"bob", "cy", "di"}
