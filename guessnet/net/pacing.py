"""What a connection should do next: a pure function of its state and the clock.

The connection loop (``guessnet.conn``) only waits, reads and writes; every decision about time
is made here, with the clock handed in, so it is tested with a fake clock:

* a message is accepted, refused (``rate_limited``) or the peer is cut off (``flooding``) by a
  token bucket of ``rate`` messages a second, bursts of ``burst``, and ``rate_strikes`` refusals;
* a frame whose first byte arrived must be complete within ``frame_timeout`` (a byte-a-second
  drip is cut off: ``frame deadline``);
* the server pings a peer it heard nothing from for ``heartbeat`` seconds, and cuts a peer it
  heard nothing from for ``heartbeat_misses`` intervals (``timed out``); a peer that keeps
  talking is pinged only every ``RTT_EVERY`` intervals, to keep its round-trip time fresh (a
  ping and its pong are two more wake-ups of the connection's thread: 2,000 players guessing
  once a second, pinged every 10 s, would add 400 wake-ups a second to 2,000);
* the session's own timer (``tick``) runs when it asked to;
* between events the loop sleeps until the earliest of these is due.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from guessnet.wire.closing import Close

IDLE_WAIT = 60.0  # seconds a connection with no timer due sleeps (any event wakes it)
CLOSING_WAIT = 0.1  # while closing, how often the loop looks whether the outbox drained
RTT_EVERY = 6  # heartbeat intervals between pings to a peer that talks (its rtt refreshed)


@dataclass(frozen=True)
class Limits:
    handshake_timeout: float = 5.0
    hello_timeout: float = 3.0
    frame_timeout: float = 10.0
    outbox_bytes: int = 512 * 1024
    heartbeat: float | None = 10.0
    heartbeat_misses: int = 3
    rate: float = 50.0
    burst: float = 100.0
    rate_strikes: int = 50


class TokenBucket:
    """``rate`` events a second on average, bursts of ``burst``; the clock is handed in."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.stamp = burst, now

    def take(self, now: float) -> bool:
        tokens = self.tokens + (now - self.stamp) * self.rate
        if tokens > self.burst:
            tokens = self.burst
        self.stamp = now
        if tokens >= 1:
            self.tokens = tokens - 1
            return True
        self.tokens = tokens
        return False


class Admission(enum.Enum):
    ACCEPT = "accept"
    REFUSE = "rate_limited"  # answered with an error; the connection lives on
    CUT = "flooding"  # too many refusals: close the connection (Close.FLOODING)


@dataclass(frozen=True)
class Due:
    """What is due at one moment: a close reason (None: none), a ping, the session's tick."""

    close: Close | None = None
    ping: bool = False
    tick: bool = False


NOTHING_DUE = Due()


class Pacing:
    """The timers and rate of one connection (see the module docstring)."""

    def __init__(self, limits: Limits, now: float, ticking: bool) -> None:
        self.limits = limits
        self._bucket = TokenBucket(limits.rate, limits.burst, now)
        self._strikes = 0
        self._last_heard = self._last_ping = now
        self._partial_since: float | None = None
        self._next_tick: float | None = now if ticking else None
        # nothing can be due before then: ``wait`` sets it to the soonest timer as the loop
        # goes to sleep, and only a frame begun or a tick asked for can bring that closer
        # (what is heard only puts timers off); most wake-ups then cost ``due`` one compare
        self._quiet_until = now

    def heard(self, now: float, partial_frame: bool) -> None:
        """Bytes arrived; ``partial_frame``: a frame is still incomplete after them."""
        self._last_heard = now
        if not partial_frame:
            self._partial_since = None
        elif self._partial_since is None:
            self._partial_since = now
            self._quiet_until = min(self._quiet_until, now + self.limits.frame_timeout)

    def admit(self, now: float) -> Admission:
        """Whether one more message may be handled now."""
        if self._bucket.take(now):
            return Admission.ACCEPT
        self._strikes += 1
        return Admission.CUT if self._strikes >= self.limits.rate_strikes else Admission.REFUSE

    def due(self, now: float) -> Due:
        """What is due at ``now``; a ping due is counted as sent."""
        if now < self._quiet_until:
            return NOTHING_DUE
        close, ping = None, False
        if self._partial_since is not None and \
                now - self._partial_since > self.limits.frame_timeout:
            close = Close.FRAME_DEADLINE
        hb = self.limits.heartbeat
        if close is None and hb is not None:
            if now - self._last_heard > hb * self.limits.heartbeat_misses:
                close = Close.TIMED_OUT
            elif now >= self._ping_due(hb):
                self._last_ping, ping = now, True
        tick = self._next_tick is not None and now >= self._next_tick
        if close is None and not ping and not tick:
            return NOTHING_DUE  # most wake-ups: no allocation
        return Due(close=close, ping=ping, tick=tick)

    def _ping_due(self, hb: float) -> float:
        """When the next ping is due: ``hb`` after the last byte heard or ping sent, or
        ``RTT_EVERY`` intervals after the last ping however much the peer talks."""
        return min(max(self._last_ping, self._last_heard) + hb,
                   self._last_ping + hb * RTT_EVERY)

    def ticked(self, next_tick: float | None) -> None:
        """The session's timer ran; it wants to run again at ``next_tick`` (None: never)."""
        self._next_tick = next_tick
        if next_tick is not None:
            self._quiet_until = min(self._quiet_until, next_tick)

    def wait(self, now: float, closing: bool) -> float:
        """Seconds to sleep before anything is due (a little after, never under 10 ms)."""
        if closing:
            return CLOSING_WAIT
        soonest = self._next_tick  # the earliest timer (None: none yet)
        if self._partial_since is not None:
            frame_due = self._partial_since + self.limits.frame_timeout
            soonest = frame_due if soonest is None else min(soonest, frame_due)
        hb = self.limits.heartbeat
        if hb is not None:
            beat_due = min(self._ping_due(hb),
                           self._last_heard + hb * self.limits.heartbeat_misses)
            soonest = beat_due if soonest is None else min(soonest, beat_due)
        if soonest is None:
            self._quiet_until = now + IDLE_WAIT
            return IDLE_WAIT
        self._quiet_until = soonest
        return max(0.01, soonest - now + 0.005)
