"""A room's rules and the host's hand on it: plain data the round machine (``guess``) reads.

``Rules`` are a round's range, tries and time limit; ``Pace`` is what the host changed: a
clock stopped, a door locked, the next round's rules.  ``GuessRejected`` is what the rules
raise for a move they refuse.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class GuessRejected(Exception):
    """A move the rules refuse; the message says why and what to do, and no try was used."""


@dataclass(frozen=True)
class Rules:
    """Range, tries and time limit (seconds from the first guess; None: none) of every round
    in a room."""

    low: int = 1
    high: int = 10
    tries: int = 5
    seconds: float | None = None

    def __post_init__(self) -> None:
        if self.low > self.high:
            raise ValueError(f"the range {self.low} ~ {self.high} is empty")
        if self.tries < 1:
            raise ValueError(f"a round needs at least one try, not {self.tries}")
        if self.seconds is not None and not self.seconds > 0:
            raise ValueError(f"a round time must be positive, not {self.seconds}")

    def check(self, value: int) -> None:
        if not self.low <= value <= self.high:
            raise GuessRejected(
                f"{value} is outside the range: guess a number from {self.low} to {self.high}")


@dataclass
class Pace:
    """The host's hand on a room (see the module docstring): whether its clock stands still,
    since when, and for how long it has stood in this round; whether the door is locked; the
    rules of the next round."""

    paused_at: float | None = None
    stood: float = 0.0
    locked: bool = False
    next_rules: Rules | None = None

    def stood_for(self, now: float) -> float:
        """Seconds the running round's clock has stood still, up to ``now``."""
        return self.stood + (now - self.paused_at if self.paused_at is not None else 0.0)

    def to_list(self) -> list[Any]:
        rules = self.next_rules
        return [self.paused_at, self.stood, self.locked, None if rules is None else
                [rules.low, rules.high, rules.tries, rules.seconds]]

    @classmethod
    def from_list(cls, data: list[Any] | None) -> Pace:
        if not data:
            return cls()
        paused_at, stood, locked, rules = data
        return cls(paused_at, stood, locked, None if rules is None else Rules(*rules))
