"""Number-guessing rules: one room's rounds as a state machine.

Theory of operation
-------------------
A ``GuessRoom`` holds the current round of one room: its number, its secret, the players taking
part and the tries each has used, and every guess in order.  Single-player mode is a room with
one member that nobody else can join; a multiplayer room is the same machine shared by many.

The machine has one state per round, always "running"; these moves change it:

* ``join(player)``: the player takes part in the running round.  A newcomer gets the full number
  of tries; someone who left earlier in the same round gets back the tries they had used
  (leaving and rejoining is no way to reset a bad round).
* ``guess(player, value)``: a value that is not in the range raises ``GuessRejected`` and uses no
  try; a player with no tries left is refused the same way.  Otherwise one try is used and the
  hint is ``high``/``low``/``correct``.  A correct guess ends the round as ``won``; a wrong guess
  that leaves every remaining player with no tries ends it as ``failed``.
* ``leave(player)``: the player is taken out of the round; if everyone left has used all tries,
  the round ends as ``failed``.  When the last player leaves, the round is abandoned quietly.
* ``drop(player)`` / ``back(player)``: the player's connection dropped (their seat is held) or
  came back.  A player away does not count for "everyone has used all tries": the round ends
  as ``failed`` when every player still here has, and waits while nobody is here.
* ``expire(now)``: with a round time (``Rules.seconds``), the round's clock starts at its first
  guess; once it has run out the round ends as ``timeout`` for everyone.  A round nobody has
  guessed in never runs out (an idle room does not fill history with empty rounds).

The host's hand on a room (``Pace``): ``pause(now)`` stops the round's clock and refuses every
guess until ``resume(now)``; ``lock()`` refuses newcomers (players of this round come back) until
``unlock()``; ``set_rules(rules)`` gives the next round other rules; ``stop(now)`` ends the
round at once as ``stopped``, revealing the number.  ``watch(player)`` lets a player follow the
room without taking part: a watcher never counts for the end of a round.

A move that ends a round returns a ``FinishedRound`` (the record stored in history) and starts the
next round at once with the ``next_secret`` the caller handed in (or drawn then by the callable
handed in, given the next round's rules: most moves end no round); the caller draws secrets
from ``secrets`` and reads the clock, this module does neither.  Everything the module returns
is plain data, and ``to_dict``/``from_dict`` round-trip the whole state through JSON for shared
backends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from guessnet.games.rules import GuessRejected, Pace, Rules

__all__ = ["FinishedRound", "GuessRejected", "GuessRoom", "HintResult", "Mode", "Move",
           "NextSecret", "Outcome", "Pace", "Rules"]

Mode = Literal["single", "multi"]
HintText = Literal["high", "low", "correct"]
Outcome = Literal["won", "failed", "timeout", "stopped"]


NextSecret = int | Callable[[Rules], int]  # the next round's secret, or how to draw it


class Move(NamedTuple):
    """One accepted guess, as kept in history.  (A named tuple, as ``HintResult``: one is
    built at every guess, in a third of a frozen dataclass's time.)"""

    at: float
    player: str
    value: int
    result: HintText


class HintResult(NamedTuple):
    """What the guesser is told about one accepted guess."""

    value: int
    result: HintText
    tries_used: int
    tries_left: int


class FinishedRound(NamedTuple):
    """A round that ended: everything history needs, and what every member is told (a named
    tuple, as ``Move``)."""

    room: str
    mode: Mode
    round: int
    started: float
    ended: float
    secret: int
    outcome: Outcome
    winner: str | None
    winner_tries: int | None
    players: tuple[str, ...]
    moves: tuple[Move, ...]


@dataclass
class GuessRoom:
    """The running round of one room (see the module docstring for the moves)."""

    name: str
    mode: Mode
    rules: Rules
    secret: int
    round: int = 1
    started: float = 0.0
    tries: dict[str, int] = field(default_factory=dict)
    departed: dict[str, int] = field(default_factory=dict)
    ever: list[str] = field(default_factory=list)
    moves: list[Move] = field(default_factory=list)
    away: list[str] = field(default_factory=list)
    watchers: list[str] = field(default_factory=list)
    pace: Pace = field(default_factory=Pace)
    # The caller's bookkeeping, never read by the rules: the last round whose end the room's
    # members were told (a server announces a round's end only once it is recorded), and that
    # announcement (its messages and wall-clock time), to send again to members who may have
    # missed it.
    announced: int = 0
    last_end: dict[str, Any] | None = None
    # Room updates held back to go out together (a burst of dropped connections), as
    # [wall-clock time held, message dict] pairs, and when such updates last went out.
    held: list[list[Any]] = field(default_factory=list)
    told_at: float = 0.0

    def __post_init__(self) -> None:
        if self.mode not in ("single", "multi"):
            raise ValueError(f"unknown mode {self.mode!r}")
        self.rules.check(self.secret)

    # ------------------------------------------------------------------ queries

    @property
    def players(self) -> list[str]:
        """Players taking part in the running round, in order of joining."""
        return list(self.tries)

    def tries_used(self, player: str) -> int:
        return self.tries.get(player, self.departed.get(player, 0))

    @property
    def upcoming_rules(self) -> Rules:
        """The rules the next round will play by (its secret is drawn within them)."""
        return self.pace.next_rules or self.rules

    @property
    def paused(self) -> bool:
        return self.pace.paused_at is not None

    def deadline(self, now: float) -> float | None:
        """When the round's time runs out, seen at ``now`` (None: no limit, or its clock has
        not started); a paused clock stands still."""
        if self.rules.seconds is None or not self.moves:
            return None
        return self.moves[0].at + self.rules.seconds + self.pace.stood_for(now)

    def time_left(self, now: float) -> float | None:
        deadline = self.deadline(now)
        return None if deadline is None else max(0.0, deadline - now)

    # ------------------------------------------------------------------ moves

    def join(self, player: str) -> None:
        if player in self.tries:
            return
        if self.mode == "single" and self.tries:
            raise GuessRejected(f"room {self.name!r} is a single-player game")
        if self.pace.locked and player not in self.departed and player not in self.away:
            raise GuessRejected(f"room {self.name!r} is locked by the host: no new players "
                                "for now; try another room")
        if player in self.watchers:
            self.watchers.remove(player)
        self.tries[player] = self.departed.pop(player, 0)
        if player not in self.ever:
            self.ever.append(player)

    def guess(self, player: str, value: int, now: float,
              next_secret: NextSecret) -> tuple[HintResult, FinishedRound | None]:
        """Apply one guess; return the hint and, when the round ended, its record."""
        if player not in self.tries:
            raise GuessRejected(f"cannot guess: you are not playing in room {self.name!r}")
        if self.paused:
            raise GuessRejected(f"the host paused room {self.name!r}: guesses wait until they "
                                "resume it (your tries are kept)")
        if player in self.away:
            self.away.remove(player)
        used = self.tries[player]
        if used >= self.rules.tries:
            raise GuessRejected(
                f"cannot guess: you have used all {self.rules.tries} tries of round "
                f"{self.round}; wait for the next round")
        self.rules.check(value)
        used += 1
        self.tries[player] = used
        result: HintText = "correct" if value == self.secret else \
            ("high" if value > self.secret else "low")
        self.moves.append(Move(at=now, player=player, value=value, result=result))
        hint = HintResult(value=value, result=result, tries_used=used,
                          tries_left=self.rules.tries - used)
        if result == "correct":
            return hint, self._finish("won", player, now, next_secret)
        if used < self.rules.tries:  # the guesser is here with tries left: not all are out
            return hint, None
        if self._all_exhausted():
            return hint, self._finish("failed", None, now, next_secret)
        return hint, None

    def leave(self, player: str, now: float, next_secret: NextSecret) -> FinishedRound | None:
        """Take ``player`` out of the round; return the record if that ended it."""
        if player not in self.tries:
            return None
        self.departed[player] = self.tries.pop(player)
        if player in self.away:
            self.away.remove(player)
        if not self.tries:
            self._reset(now, next_secret)
            return None
        if self._all_exhausted():
            return self._finish("failed", None, now, next_secret)
        return None

    def drop(self, player: str, now: float, next_secret: NextSecret) -> FinishedRound | None:
        """``player``'s connection dropped (their seat is held): they stop counting for the
        end of the round; return the record if that ended it (everyone here is out of tries)."""
        if player not in self.tries or player in self.away:
            return None
        self.away.append(player)
        if self._all_exhausted():
            return self._finish("failed", None, now, next_secret)
        return None

    def back(self, player: str) -> bool:
        """``player`` is back from a dropped connection; True if they were away."""
        if player not in self.away:
            return False
        self.away.remove(player)
        return True

    def expire(self, now: float, next_secret: NextSecret) -> FinishedRound | None:
        """End the round as ``timeout`` if its time has run out; return the record if so."""
        deadline = self.deadline(now)
        if deadline is None or now < deadline or self.paused:
            return None
        return self._finish("timeout", None, now, next_secret)

    # ------------------------------------------------------------------ the host

    def pause(self, now: float) -> None:
        if self.paused:
            raise GuessRejected(f"room {self.name!r} is paused already: 'resume' goes on")
        self.pace.paused_at = now

    def resume(self, now: float) -> None:
        pace = self.pace
        if pace.paused_at is None:
            raise GuessRejected(f"room {self.name!r} is not paused")
        pace.stood += now - pace.paused_at
        pace.paused_at = None

    def lock(self, locked: bool) -> None:
        self.pace.locked = locked

    def set_rules(self, rules: Rules) -> None:
        """``rules`` for the next round (the running one keeps its own)."""
        self.pace.next_rules = rules

    def stop(self, now: float, next_secret: NextSecret) -> FinishedRound:
        """End the round now, as ``stopped`` (the host's ``next``), revealing the number."""
        return self._finish("stopped", None, now, next_secret)

    def watch(self, player: str) -> None:
        """``player`` follows the room without taking part (leaving the round if in it)."""
        if player in self.tries:
            raise GuessRejected(f"you play in room {self.name!r}: 'exit' first to watch it")
        if player not in self.watchers:
            self.watchers.append(player)

    def unwatch(self, player: str) -> None:
        if player in self.watchers:
            self.watchers.remove(player)

    # ------------------------------------------------------------------ internals

    def _all_exhausted(self) -> bool:
        """Every player here (not away) has used every try, and someone is here."""
        here = [used for player, used in self.tries.items() if player not in self.away]
        return bool(here) and all(used >= self.rules.tries for used in here)

    def _finish(self, outcome: Outcome, winner: str | None, now: float,
                next_secret: NextSecret) -> FinishedRound:
        record = FinishedRound(
            room=self.name, mode=self.mode, round=self.round, started=self.started, ended=now,
            secret=self.secret, outcome=outcome, winner=winner,
            winner_tries=self.tries[winner] if winner is not None else None,
            players=tuple(self.ever), moves=tuple(self.moves))
        self.round += 1
        staying, away = list(self.tries), self.away
        self._reset(now, next_secret)
        for player in staying:
            self.tries[player] = 0
            self.ever.append(player)
        self.away = away
        return record

    def _reset(self, now: float, next_secret: NextSecret) -> None:
        if self.pace.next_rules is not None:
            self.rules, self.pace.next_rules = self.pace.next_rules, None
        if callable(next_secret):  # drawn only when a round does end
            next_secret = next_secret(self.rules)
        self.rules.check(next_secret)
        self.pace.stood = 0.0
        if self.pace.paused_at is not None:  # a paused room stays paused, its new clock too
            self.pace.paused_at = now
        self.secret = next_secret
        self.started = now
        self.tries = {}
        self.departed = {}
        self.ever = []
        self.moves = []
        self.away = []

    # ------------------------------------------------------------------ serialisation

    @property
    def vacant(self) -> bool:
        """Nobody takes part in the round, or watches it (a room store removes the room)."""
        return not self.tries and not self.watchers

    def to_dict(self) -> dict[str, Any]:
        """The whole state as JSON-able data (shared backends store it): ``from_dict`` makes
        it again."""
        return _room_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GuessRoom:
        return _room_from(data)


def _room_dict(room: GuessRoom) -> dict[str, Any]:
    rules = room.rules
    return {
        "name": room.name, "mode": room.mode,
        "rules": [rules.low, rules.high, rules.tries, rules.seconds],
        "secret": room.secret, "round": room.round, "started": room.started,
        "tries": room.tries, "departed": room.departed, "ever": room.ever,
        "moves": [[m.at, m.player, m.value, m.result] for m in room.moves],
        "away": room.away, "announced": room.announced, "last_end": room.last_end,
        "held": room.held, "told_at": room.told_at,
        "watchers": room.watchers, "pace": room.pace.to_list(),
    }


def _room_from(data: dict[str, Any]) -> GuessRoom:
    low, high, tries, *limit = data["rules"]
    return GuessRoom(
        name=data["name"], mode=data["mode"],
        rules=Rules(low, high, tries, limit[0] if limit else None),
        secret=data["secret"], round=data["round"], started=data["started"],
        tries=dict(data["tries"]), departed=dict(data["departed"]), ever=list(data["ever"]),
        moves=[Move(at=a, player=p, value=v, result=r) for a, p, v, r in data["moves"]],
        away=list(data.get("away", ())), watchers=list(data.get("watchers", ())),
        pace=Pace.from_list(data.get("pace")),
        announced=int(data.get("announced", data["round"] - 1)),
        last_end=data.get("last_end"), held=[list(h) for h in data.get("held", ())],
        told_at=float(data.get("told_at", 0.0)))
