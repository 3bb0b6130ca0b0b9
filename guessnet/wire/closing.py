"""Why a connection ends: one named set of reasons, each with what it implies.

A ``Close`` is a connection's close reason on both sides; the server's ``bye.reason`` is one of
them (docs/PROTOCOL.md lists which).  Its properties say what follows from it, so that no
caller keeps its own list of strings:

* ``resumable``: the player may come back with their resume token (the connection was lost,
  not closed on purpose);
* ``abrupt``: nothing queued is worth flushing (the peer is gone, or would not read it);
* ``final``: the server meant it, and a client must not reconnect by itself;
* ``eviction``: the server closed a live session (kicked, banned, replaced).
"""

from __future__ import annotations

import enum


class Close(enum.Enum):
    QUIT = "quit"                  # the client said quit
    KICKED = "kicked"              # an admin kicked the player
    BANNED = "banned"              # an admin banned the player or their address
    REPLACED = "replaced"          # the account logged in elsewhere, or the session resumed
    VERSION = "version"            # the client speaks another protocol version
    SHUTDOWN = "shutdown"          # the server is stopping
    IDLE = "idle"                  # no name given in time
    REFUSED = "refused"            # refused at the door (full, wrong certificate)
    DROPPED = "dropped"            # the connection was lost (end of stream, reset)
    SLOW_READER = "slow reader"    # the peer stopped reading; its outbox overflowed
    TIMED_OUT = "timed out"        # heartbeats went unanswered
    FRAME_DEADLINE = "frame deadline"  # a frame begun was not finished in time
    PROTOCOL_ERROR = "protocol error"  # the byte stream can no longer be trusted
    FLOODING = "flooding"          # too many messages, refused again and again

    @property
    def resumable(self) -> bool:
        return self in _RESUMABLE

    @property
    def abrupt(self) -> bool:
        return self in _ABRUPT

    @property
    def final(self) -> bool:
        return self in _FINAL

    @property
    def eviction(self) -> bool:
        return self in _EVICTIONS


_RESUMABLE = frozenset({Close.DROPPED, Close.TIMED_OUT, Close.FRAME_DEADLINE, Close.SLOW_READER})
_ABRUPT = frozenset({Close.DROPPED, Close.SLOW_READER})
_FINAL = frozenset({Close.QUIT, Close.KICKED, Close.BANNED, Close.REPLACED, Close.VERSION,
                    Close.REFUSED, Close.IDLE})
_EVICTIONS = frozenset({Close.KICKED, Close.BANNED, Close.REPLACED})


def close_of(text: str | None) -> Close | None:
    """The ``Close`` a ``bye.reason`` names (None for one this client does not know)."""
    try:
        return Close(text)
    except ValueError:
        return None
