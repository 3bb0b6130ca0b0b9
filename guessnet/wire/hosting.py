"""The host's toolkit on the wire: moderation, the pace of a room, exports, and watching.

Declared like every message type (``guessnet.wire.schema``); ``guessnet.wire.messages`` lists
who may send which.  Durations are whole seconds; a room or player is named as on the wire
everywhere else.
"""

from __future__ import annotations

from dataclasses import field
from typing import Final, Literal

from guessnet.wire.schema import NAME_MAX, Message, name_field

__all__ = [
    "Ban",
    "Bans",
    "Export",
    "Guessed",
    "LockRoom",
    "Mute",
    "NextRound",
    "PauseRoom",
    "Rename",
    "ResumeRoom",
    "RoomRules",
    "Unban",
    "UnlockRoom",
    "Watch",
]

YEAR: Final = 366 * 86_400
_ROOM: Final = {"max_len": NAME_MAX * 4}
_TARGET: Final = {"max_len": 64}  # a name, or an address (IPv4, IPv6, an IPv6 /64)
_NUMBER: Final = {"min": -1_000_000_000, "max": 1_000_000_000}


# -- admin -> server: moderation

class Ban(Message, wire="ban"):
    """Admin: keep player ``target`` (a name) or an address out for ``seconds``; a player
    online is told why and until when, and closed."""
    target: str = field(metadata=_TARGET)
    seconds: int = field(metadata={"min": 1, "max": YEAR})
    reason: str = field(default="", metadata={"max_len": 200})


class Unban(Message, wire="unban"):
    """Admin: lift the ban on a name or an address."""
    target: str = field(metadata=_TARGET)


class Bans(Message, wire="bans"):
    """Admin: the table of bans and mutes in force, with when each ends."""


class Mute(Message, wire="mute"):
    """Admin: refuse ``name``'s chat for ``seconds`` (0: lift the mute); others see nothing."""
    name: str = field(metadata=name_field)
    seconds: int = field(metadata={"min": 0, "max": YEAR})


class Rename(Message, wire="rename"):
    """Admin: a guest's or an account's name becomes ``new`` (the player is told; an account
    keeps its games and password under the new name)."""
    name: str = field(metadata=name_field)
    new: str = field(metadata=name_field)


# -- admin -> server: the pace of a room

class PauseRoom(Message, wire="pause"):
    """Admin: stop ``room``'s clock; guesses are refused until ``resume_room``."""
    room: str = field(metadata=_ROOM)


class ResumeRoom(Message, wire="resume_room"):
    """Admin: start ``room``'s clock again where it stopped."""
    room: str = field(metadata=_ROOM)


class NextRound(Message, wire="next_round"):
    """Admin: end ``room``'s round now (``stopped``), reveal the number, start the next."""
    room: str = field(metadata=_ROOM)


class LockRoom(Message, wire="lock"):
    """Admin: no new players in ``room`` (its players may come back) until ``unlock``."""
    room: str = field(metadata=_ROOM)


class UnlockRoom(Message, wire="unlock"):
    room: str = field(metadata=_ROOM)


class RoomRules(Message, wire="room_rules"):
    """Admin: the rules of ``room``'s next round: the range (``low``..``high``), the tries,
    the round time in seconds (0: none); a field left out keeps its value."""
    room: str = field(metadata=_ROOM)
    low: int | None = field(default=None, metadata=_NUMBER)
    high: int | None = field(default=None, metadata=_NUMBER)
    tries: int | None = field(default=None, metadata={"min": 1, "max": 1000})
    seconds: int | None = field(default=None, metadata={"min": 0, "max": 86_400})


class Export(Message, wire="export"):
    """Admin: finished rounds and matches (ended at or after ``since``, a Unix time; in
    ``room`` only when given) and the leaderboards, as ``table`` messages titled
    ``export: games`` and ``export: leaders``."""
    since: float | None = None
    room: str | None = field(default=None, metadata=_ROOM)


# -- server -> player

class Guessed(Message, wire="guessed"):
    """To the watchers of ``room``: ``name`` guessed ``value``, which was ``result``
    (``high``, ``low``, ``correct``) with ``tries_left`` left."""
    room: str = field(metadata=_ROOM)
    name: str = field(metadata=name_field)
    value: int
    result: Literal["high", "low", "correct"]
    tries_left: int


# -- player -> server

class Watch(Message, wire="watch"):
    """Follow ``room``'s rounds without playing, or ``player``'s match (one of the two);
    neither (both null): stop watching."""
    room: str | None = field(default=None, metadata=_ROOM)
    player: str | None = field(default=None, metadata=name_field)
