"""games.guess: every rule of a round, and a property test over every (state, move) pair."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from games.guess import GuessRejected, GuessRoom, Mode, Rules

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


PLAYERS = ["ann", "bob", "cy"]
moves = st.one_of(
    st.tuples(st.just("join"), st.sampled_from(PLAYERS)),
    st.tuples(st.just("leave"), st.sampled_from(PLAYERS)),
    st.tuples(st.just("guess"), st.sampled_from(PLAYERS), st.integers(-2, 13)),
)


def check_invariants(r: GuessRoom) -> None:
    assert RULES.low <= r.secret <= RULES.high
    assert all(0 <= used <= RULES.tries for used in r.tries.values())
    assert not (r.tries and all(u >= RULES.tries for u in r.tries.values()))
    assert all(m.result in ("high", "low") for m in r.moves)  # a correct one ends the round
    assert set(r.tries) <= set(r.ever)


@settings(max_examples=300, deadline=None)
@given(st.lists(moves, max_size=40), st.lists(st.integers(1, 10), min_size=41, max_size=41),
       st.sampled_from(["single", "multi"]))
def test_every_move_yields_legal_state_or_rule_error(script: list[tuple[Any, ...]],
                                                     secrets: list[int], mode: Mode) -> None:
    r = room(mode, secrets[0])
    rounds = 1
    for i, move in enumerate(script):
        before = r.to_dict()
        try:
            if move[0] == "join":
                r.join(move[1])
            elif move[0] == "leave":
                done = r.leave(move[1], float(i), secrets[i + 1])
                rounds += done is not None
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
