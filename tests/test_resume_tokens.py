"""ResumeTokens on a clock the test moves: a held seat expires once its grace is over, and only
then; taking, forgetting or holding again makes an earlier hold stale."""

from __future__ import annotations

import pytest

from guessnet.services.resume import ResumeTokens

pytestmark = pytest.mark.timeout(30)


class Seat:
    def __init__(self, name: str) -> None:
        self.name = name
        self.token_hash: str | None = None
        self.abandoned: list[str] = []

    def abandon(self, how: str) -> None:
        self.abandoned.append(how)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def tokens() -> tuple[ResumeTokens[Seat], Clock]:
    clock = Clock()
    return ResumeTokens(30.0, clock=clock), clock


def test_a_held_seat_is_released_when_its_grace_is_over_and_not_before() -> None:
    resume, clock = tokens()
    seats = [Seat(f"p{i}") for i in range(3)]
    for seat in seats:
        resume.issue(seat)
    resume.hold(seats[0])
    clock.now += 10
    resume.hold(seats[1])  # seats[2] stays connected: its token never expires
    clock.now += 19.9
    resume._expire()
    assert [seat.abandoned for seat in seats] == [[], [], []]
    clock.now += 0.1  # seats[0]'s 30 s are over
    resume._expire()
    assert seats[0].abandoned == ["did not come back within 30 s"]
    assert seats[0].token_hash is None and seats[1].abandoned == []
    clock.now += 10
    resume._expire()
    assert seats[1].abandoned and not seats[2].abandoned
    clock.now += 1000
    resume._expire()
    assert seats[2].abandoned == [] and seats[2].token_hash is not None
    assert len(seats[0].abandoned) == 1  # released once


def test_a_seat_taken_back_forgotten_or_held_again_is_not_released_by_its_old_hold() -> None:
    resume, clock = tokens()
    back, gone, again = Seat("back"), Seat("gone"), Seat("again")
    token = resume.issue(back)
    resume.issue(gone)
    resume.issue(again)
    for seat in (back, gone, again):
        resume.hold(seat)
    assert resume.take(token) is back  # came back: a new token, connected
    new_token = resume.issue(back)
    resume.forget(gone)  # left for good another way
    clock.now += 20
    resume._expire()
    resume.hold(again)  # held once more: its grace starts over
    clock.now += 15  # the first holds are 35 s old, the last 15 s
    resume._expire()
    assert back.abandoned == [] and gone.abandoned == [] and again.abandoned == []
    assert resume.take(new_token) is back
    clock.now += 15
    resume._expire()
    assert again.abandoned == ["did not come back within 30 s"]


def test_an_expired_token_resumes_nobody_even_before_the_sweep() -> None:
    resume, clock = tokens()
    seat = Seat("late")
    token = resume.issue(seat)
    resume.hold(seat)
    clock.now += 30
    assert resume.take(token) is None
