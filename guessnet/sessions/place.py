"""Where a player is: a named set of places and the moves allowed between them.

Theory of operation
-------------------
A connection starts ``ANONYMOUS``.  Taking a name (guest, account or resume) puts it in the
``LOBBY``; from there it plays a single-player game (``SINGLE``), a multiplayer room (``ROOM``)
or a two-player match of any game (``MATCH``), or follows a room or a match without playing
(``WATCHING``), and comes back to the ``LOBBY``.  A guessing game may be switched for another
directly; a match must end first; a watcher stops watching first.  ``logout`` goes back to
``ANONYMOUS`` from anywhere.  Any other move raises ``PlaceError`` (a bug of ours, not the
player's: the handlers refuse what the player may not do before they move).
"""

from __future__ import annotations

import enum


class Place(enum.Enum):
    ANONYMOUS = "-"
    LOBBY = "lobby"
    SINGLE = "single"
    ROOM = "multi"
    MATCH = "match"
    WATCHING = "watching"  # following a room or a match without playing


GAMES = frozenset({Place.SINGLE, Place.ROOM, Place.MATCH})
GUESSING = frozenset({Place.SINGLE, Place.ROOM})

MOVES: dict[Place, frozenset[Place]] = {
    Place.ANONYMOUS: frozenset({Place.LOBBY}),
    Place.LOBBY: frozenset({Place.LOBBY, Place.SINGLE, Place.ROOM, Place.MATCH,
                            Place.ANONYMOUS, Place.WATCHING}),
    Place.WATCHING: frozenset({Place.LOBBY, Place.ANONYMOUS}),
    Place.SINGLE: frozenset({Place.LOBBY, Place.SINGLE, Place.ROOM, Place.ANONYMOUS}),
    Place.ROOM: frozenset({Place.LOBBY, Place.SINGLE, Place.ROOM, Place.ANONYMOUS}),
    Place.MATCH: frozenset({Place.LOBBY, Place.ANONYMOUS}),
}


class PlaceError(Exception):
    """A move between places that the table does not allow (our bug)."""


def move(current: Place, target: Place) -> Place:
    """``target`` if the table allows moving there from ``current``, else ``PlaceError``."""
    if target not in MOVES[current]:
        raise PlaceError(f"cannot move from {current.name} to {target.name}")
    return target
