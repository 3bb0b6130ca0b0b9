"""Rooms never stall: a round's time runs out, and a dropped player is not waited for."""

from __future__ import annotations

import time
from collections.abc import Callable

import protocol
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
