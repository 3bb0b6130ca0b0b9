"""games.guess: every rule of a round, and a property test over every (state, move) pair."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guessnet.games.guess import GuessRejected, GuessRoom, Mode, Rules

RULES = Rules(1, 10, 3)


def room(mode: Mode = "multi", secret: int = 7) -> GuessRoom:
    return GuessRoom(name="main", mode=mode, rules=RULES, secret=secret)


def test_hints_and_tries() -> None:
    r = room()
    r.join("ann")
    hint, done = r.guess("ann", 9, 1.0, 2)
    assert (hint.result, hint.tries_used, hint.tries_left, done) == ("high", 1, 2, None)
    hint, done = r.guess("ann", 3, 2.0, 2)
    assert (hint.result, hint.tries_left, done) == ("low", 1, None)


@pytest.mark.parametrize("value", [0, 11, -5, 10**9])
def test_out_of_range_uses_no_try(value: int) -> None:
    r = room()
    r.join("ann")
    with pytest.raises(GuessRejected, match="outside the range"):
        r.guess("ann", value, 1.0, 2)
    assert r.tries_used("ann") == 0
    assert r.moves == []


def test_single_win_starts_next_round() -> None:
    r = room("single")
    r.join("ann")
    hint, done = r.guess("ann", 7, 5.0, 4)
    assert hint.result == "correct"
    assert done is not None and done.outcome == "won" and done.winner == "ann"
    assert done.secret == 7 and done.winner_tries == 1 and done.round == 1
    assert (r.round, r.secret, r.tries_used("ann"), r.players) == (2, 4, 0, ["ann"])


def test_single_exhausted() -> None:
    r = room("single")
    r.join("ann")
    r.guess("ann", 1, 1.0, 5)
    r.guess("ann", 2, 1.0, 5)
    hint, done = r.guess("ann", 3, 1.0, 5)
    assert hint.tries_left == 0
    assert done is not None and done.outcome == "failed" and done.winner is None
    assert r.round == 2 and r.tries_used("ann") == 0


def test_single_room_takes_one_player() -> None:
    r = room("single")
    r.join("ann")
    with pytest.raises(GuessRejected):
        r.join("bob")


def test_first_correct_guess_ends_round_for_everyone() -> None:
    r = room()
    for p in ("ann", "bob", "cy"):
        r.join(p)
    r.guess("bob", 2, 1.0, 3)
    _, done = r.guess("cy", 7, 2.0, 3)
    assert done is not None and done.winner == "cy" and done.players == ("ann", "bob", "cy")
    assert [m.player for m in done.moves] == ["bob", "cy"]
    assert r.round == 2 and all(r.tries_used(p) == 0 for p in ("ann", "bob", "cy"))


def test_all_exhausted_fails_round() -> None:
    r = room()
    r.join("ann")
    r.join("bob")
    for v in (1, 2, 3):
        _, done = r.guess("ann", v, 1.0, 3)
        assert done is None
    with pytest.raises(GuessRejected, match="used all 3 tries"):
        r.guess("ann", 4, 1.0, 3)
    r.guess("bob", 1, 1.0, 3)
    r.guess("bob", 2, 1.0, 3)
    _, done = r.guess("bob", 3, 1.0, 3)
    assert done is not None and done.outcome == "failed" and done.secret == 7


def test_join_mid_round_gets_full_tries() -> None:
    r = room()
    r.join("ann")
    r.guess("ann", 1, 1.0, 3)
    r.guess("ann", 2, 1.0, 3)
    r.join("bob")
    assert r.tries_used("bob") == 0
    r.guess("ann", 3, 1.0, 3)  # ann is out of tries, bob still has 3: round goes on
    assert r.round == 1


def test_leave_mid_round_ends_it_when_the_rest_are_done() -> None:
    r = room()
    r.join("ann")
    r.join("bob")
    for v in (1, 2, 3):
        r.guess("ann", v, 1.0, 3)
    done = r.leave("bob", 2.0, 5)
    assert done is not None and done.outcome == "failed"
    assert r.players == ["ann"] and r.round == 2 and r.secret == 5


def test_rejoin_in_same_round_keeps_tries() -> None:
    r = room()
    r.join("ann")
    r.join("bob")
    r.guess("ann", 1, 1.0, 3)
    r.leave("ann", 1.0, 3)
    r.join("ann")
    assert r.tries_used("ann") == 1


def test_last_player_leaving_resets_quietly() -> None:
    r = room()
    r.join("ann")
    r.guess("ann", 1, 1.0, 3)
    assert r.leave("ann", 1.0, 4) is None
    assert r.players == [] and r.moves == [] and r.round == 1


def test_not_in_room() -> None:
    with pytest.raises(GuessRejected, match="not playing"):
        room().guess("zed", 3, 1.0, 3)


def test_rules_validate() -> None:
    with pytest.raises(ValueError):
        Rules(5, 4, 3)
    with pytest.raises(ValueError):
        Rules(1, 4, 0)


def test_json_round_trip() -> None:
    r = room()
    r.join("ann")
    r.guess("ann", 2, 1.5, 3)
    again = GuessRoom.from_dict(json.loads(json.dumps(r.to_dict())))
    assert again == r


def test_round_time_runs_from_the_first_guess() -> None:
    r = GuessRoom(name="main", mode="multi", rules=Rules(1, 10, 3, 120.0), secret=7)
    r.join("ann")
    r.join("bob")
    assert r.deadline(0.0) is None and r.expire(10_000.0, 2) is None  # no guess: no clock
    r.guess("ann", 2, 100.0, 3)
    assert r.deadline(190.0) == 220.0 and r.time_left(190.0) == 30.0
    assert r.expire(219.9, 3) is None
    done = r.expire(220.0, 4)
    assert done is not None and done.outcome == "timeout" and done.winner is None
    assert done.secret == 7 and r.round == 2 and r.secret == 4 and r.players == ["ann", "bob"]
    assert r.deadline(0.0) is None  # the next round's clock waits for its first guess


def test_no_round_time_never_expires() -> None:
    r = room()
    r.join("ann")
    r.guess("ann", 2, 1.0, 3)
    assert r.deadline(0.0) is None and r.expire(1e12, 3) is None


def test_player_away_does_not_hold_the_round() -> None:
    r = room()
    for name in ("ann", "bob"):
        r.join(name)
    for value in (1, 2):
        r.guess("ann", value, 1.0, 3)
    assert r.drop("bob", 2.0, 3) is None  # ann has a try left
    _, done = r.guess("ann", 4, 3.0, 5)
    assert done is not None and done.outcome == "failed"  # bob, away, was not waited for
    assert r.away == ["bob"] and r.players == ["ann", "bob"]
    assert r.back("bob") and not r.back("bob") and r.away == []


def test_drop_ends_a_round_only_the_away_player_held() -> None:
    r = room()
    for name in ("ann", "bob"):
        r.join(name)
    for value in (1, 2, 3):
        r.guess("ann", value, 1.0, 3)
    done = r.drop("bob", 2.0, 5)
    assert done is not None and done.outcome == "failed" and r.round == 2


def test_everyone_away_waits() -> None:
    r = room()
    r.join("ann")
    assert r.drop("ann", 1.0, 3) is None and r.round == 1
    r.leave("ann", 2.0, 3)
    assert r.away == [] and r.players == []


def test_guessing_brings_a_player_back() -> None:
    r = room()
    r.join("ann")
    r.drop("ann", 1.0, 3)
    r.guess("ann", 1, 2.0, 3)
    assert r.away == []


PLAYERS = ["ann", "bob", "cy"]
moves = st.one_of(
    st.tuples(st.just("join"), st.sampled_from(PLAYERS)),
    st.tuples(st.just("leave"), st.sampled_from(PLAYERS)),
    st.tuples(st.just("drop"), st.sampled_from(PLAYERS)),
    st.tuples(st.just("back"), st.sampled_from(PLAYERS)),
    st.tuples(st.just("expire"), st.floats(0, 200)),
    st.tuples(st.just("guess"), st.sampled_from(PLAYERS), st.integers(-2, 13)),
)


def check_invariants(r: GuessRoom) -> None:
    assert RULES.low <= r.secret <= RULES.high
    assert all(0 <= used <= RULES.tries for used in r.tries.values())
    here = [u for p, u in r.tries.items() if p not in r.away]
    assert not (here and all(u >= RULES.tries for u in here))
    assert set(r.away) <= set(r.tries) and len(set(r.away)) == len(r.away)
    assert all(m.result in ("high", "low") for m in r.moves)  # a correct one ends the round
    assert set(r.tries) <= set(r.ever)


@settings(max_examples=300, deadline=None)
@given(st.lists(moves, max_size=40), st.lists(st.integers(1, 10), min_size=41, max_size=41),
       st.sampled_from(["single", "multi"]))
def test_every_move_yields_legal_state_or_rule_error(script: list[tuple[Any, ...]],
                                                     secrets: list[int], mode: Mode) -> None:
    r = GuessRoom(name="main", mode=mode, rules=Rules(1, 10, 3, 60.0), secret=secrets[0])
    rounds = 1
    for i, move in enumerate(script):
        before = r.to_dict()
        try:
            if move[0] == "join":
                r.join(move[1])
            elif move[0] == "leave":
                done = r.leave(move[1], float(i), secrets[i + 1])
                rounds += done is not None
            elif move[0] == "drop":
                done = r.drop(move[1], float(i), secrets[i + 1])
                rounds += done is not None
            elif move[0] == "back":
                r.back(move[1])
            elif move[0] == "expire":
                done = r.expire(move[1], secrets[i + 1])
                rounds += done is not None
                assert done is None or done.outcome == "timeout"
            else:
                _, done = r.guess(move[1], move[2], float(i), secrets[i + 1])
                if done is not None:
                    rounds += 1
                    assert done.outcome in ("won", "failed")
                    assert (done.outcome == "won") == (done.moves[-1].result == "correct")
        except GuessRejected:
            assert r.to_dict() == before  # a refused move changes nothing
        check_invariants(r)
        assert r.round == rounds
        assert GuessRoom.from_dict(json.loads(json.dumps(r.to_dict()))) == r
