"""The connection loop's decisions, with a fake clock: rate, deadlines, heartbeats, sleep."""

from __future__ import annotations

import math

from hypothesis import example, given, settings
from hypothesis import strategies as st

from guessnet.net.pacing import IDLE_WAIT, RTT_EVERY, Admission, Due, Limits, Pacing, TokenBucket
from guessnet.wire.closing import Close

QUIET = Limits(heartbeat=None, frame_timeout=10.0, rate=2.0, burst=4.0, rate_strikes=3)


def test_token_bucket_allows_bursts_then_the_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=4.0, now=0.0)
    assert [bucket.take(0.0) for _ in range(5)] == [True] * 4 + [False]
    assert bucket.take(0.5)  # one token back after half a second
    assert not bucket.take(0.5)
    assert [bucket.take(100.0) for _ in range(5)] == [True] * 4 + [False]  # capped at burst


def test_messages_over_the_rate_are_refused_then_the_peer_is_cut() -> None:
    pacing = Pacing(QUIET, now=0.0, ticking=False)
    assert [pacing.admit(0.0) for _ in range(4)] == [Admission.ACCEPT] * 4
    assert pacing.admit(0.0) is Admission.REFUSE
    assert pacing.admit(0.0) is Admission.REFUSE
    assert pacing.admit(1.0) is Admission.ACCEPT  # refill: strikes are not forgiven...
    assert pacing.admit(1.0) is Admission.ACCEPT
    assert pacing.admit(1.0) is Admission.CUT  # ...the third refusal cuts
    assert Admission.CUT.value == "flooding" and Admission.REFUSE.value == "rate_limited"


def test_a_frame_must_complete_within_its_deadline() -> None:
    pacing = Pacing(QUIET, now=0.0, ticking=False)
    pacing.heard(1.0, partial_frame=True)
    pacing.heard(5.0, partial_frame=True)  # a drip does not restart the clock
    assert pacing.due(11.0) == Due()
    assert pacing.wait(10.0, closing=False) == 1.005  # due at 11.0: sleep until just after
    assert pacing.wait(11.0, closing=False) == 0.01  # never under 10 ms
    assert pacing.due(11.5).close is Close.FRAME_DEADLINE
    pacing.heard(12.0, partial_frame=False)  # the frame completed: no deadline any more
    assert pacing.due(30.0) == Due()
    assert pacing.wait(30.0, closing=False) == IDLE_WAIT


def test_heartbeat_pings_then_cuts_a_silent_peer() -> None:
    limits = Limits(heartbeat=10.0, heartbeat_misses=3)
    pacing = Pacing(limits, now=0.0, ticking=False)
    assert pacing.due(5.0) == Due()
    assert pacing.wait(5.0, closing=False) == 5.005
    assert pacing.due(10.0) == Due(ping=True)
    assert pacing.due(10.0) == Due()  # counted as sent
    pacing.heard(15.0, partial_frame=False)  # the pong
    assert pacing.due(20.0) == Due()  # heard 5 s ago: no ping needed yet
    assert pacing.wait(20.0, closing=False) == 5.005
    assert pacing.due(25.0) == Due(ping=True)  # 10 s of silence
    assert pacing.due(44.0).close is None
    assert pacing.due(45.5).close is Close.TIMED_OUT  # 30 s after the last byte heard


def test_a_talking_peer_is_pinged_only_to_refresh_its_round_trip_time() -> None:
    limits = Limits(heartbeat=10.0, heartbeat_misses=3)
    pacing = Pacing(limits, now=0.0, ticking=False)
    pings = []
    for second in range(1, 125):  # a guess every second
        pacing.heard(float(second), partial_frame=False)
        if pacing.due(float(second) + 0.5).ping:
            pings.append(second)
    assert pings == [RTT_EVERY * 10, RTT_EVERY * 20]


def test_the_sessions_timer_runs_when_it_asked_to() -> None:
    pacing = Pacing(QUIET, now=0.0, ticking=True)
    assert pacing.due(0.0).tick  # first look at once
    pacing.ticked(120.0)
    assert not pacing.due(60.0).tick
    assert pacing.wait(60.0, closing=False) == 60.005
    assert pacing.due(120.0).tick
    pacing.ticked(None)  # never again
    assert not pacing.due(1e6).tick
    assert pacing.wait(200.0, closing=True) == 0.1  # closing: look again soon


STEPS = st.lists(st.tuples(st.sampled_from(["heard", "partial", "due", "wait", "closing",
                                            "tick", "no_tick"]),
                           st.integers(0, 30), st.integers(0, 30)), max_size=40)


@settings(max_examples=1000, deadline=None)
@given(steps=STEPS, heartbeat=st.sampled_from([None, 10.0, 2.5]), ticking=st.booleans())
@example(steps=[("wait", 0, 0), ("tick", 0, 2), ("due", 10, 0)], heartbeat=None,
         ticking=False)  # a tick asked for after the loop went to sleep
@example(steps=[("wait", 0, 0), ("partial", 2, 0), ("due", 22, 0)], heartbeat=None,
         ticking=False)  # a frame begun after the loop went to sleep
def test_due_says_what_the_full_computation_says(steps: list[tuple[str, int, int]],
                                                 heartbeat: float | None,
                                                 ticking: bool) -> None:
    """``due`` skips its work until the soonest timer ``wait`` found (or a frame begun or a
    tick asked for since): whatever happens, it says what computing everything would."""
    limits = Limits(heartbeat=heartbeat, frame_timeout=10.0)
    quick, full = Pacing(limits, 0.0, ticking), Pacing(limits, 0.0, ticking)
    now = 0.0
    for step, later, offset in steps:
        now += later / 2
        for pacing in (quick, full):
            if step in ("heard", "partial"):
                pacing.heard(now, partial_frame=step == "partial")
            elif step in ("wait", "closing"):
                assert quick.wait(now, step == "closing") == full.wait(now, step == "closing")
                break
            elif step in ("tick", "no_tick"):
                pacing.ticked(now + offset / 2 if step == "tick" else None)
            else:
                full._quiet_until = -math.inf  # nothing skipped
                assert quick.due(now) == full.due(now)
                break
