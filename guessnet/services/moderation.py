"""The host's bans and mutes: kept in the store, known to every process, enforced on the spot.

A ban is on a name (the player cannot name themself, log in or resume as it) or on an address
(an IPv4 address or an IPv6 /64: nothing from it gets past the handshake); a mute is on a name
(its chat is refused, and nobody else sees a thing).  Each ends at its ``until``.

The sanctions in force live in the ``Store`` (they outlive a restart) and in a copy here, read
again every ``REFRESH`` seconds and at once when any process changes them (it publishes on
``MODERATION_CHANNEL``).  After each reading, the ``enforce`` hook closes the players of this
process whom a new ban covers, so a ban set on one process evicts its player on any other.  A
store that cannot be read leaves the last copy in force.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from guessnet.net.gate import address_key
from guessnet.services.errors import Refused
from guessnet.services.ticker import Ticker
from guessnet.services.wordfilter import WordFilter
from guessnet.storage.base import BackendError, Bus, JSONDict, Sanction, Store
from guessnet.support.logs import clock_text, escape, log
from guessnet.wire import text

MODERATION_CHANNEL = "moderation"
REFRESH = 2.0


def until_text(sanction: Sanction) -> str:
    """``until 2026-12-04 15:30:00: swearing`` (the reason only when one was given)."""
    reason = f": {sanction.reason}" if sanction.reason else ""
    return f"until {clock_text(sanction.until)}{reason}"


class Moderation:
    """Callers use ``ban``, ``lift``, ``mute``, the queries and ``in_force``; ``start``
    subscribes and begins the refresh (a thread), ``close`` stops it."""

    def __init__(self, store: Store, bus: Bus, words: WordFilter | None = None,
                 clock: Callable[[], float] = time.time, refresh: float = REFRESH) -> None:
        self._store, self._bus, self._clock = store, bus, clock
        self.words = words  # the host's word filter (--word-filter), if any
        self._lock = threading.Lock()
        self._in_force: dict[tuple[str, str, str], Sanction] = {}
        self._ticker = Ticker("moderation", refresh, self.reload)
        self.enforce: Callable[[], None] = lambda: None  # set by whoever evicts players

    def start(self) -> None:
        self._bus.subscribe(MODERATION_CHANNEL, self._changed_elsewhere)
        self.reload()
        self._ticker.start()

    def close(self) -> None:
        self._ticker.close()

    def reload(self) -> None:
        """Read the sanctions in force again, then enforce them on this process's players."""
        try:
            found = self._store.sanctions(self._clock())
        except BackendError as exc:
            log("ERROR", f"moderation: keeping the last known bans and mutes: {escape(exc)}")
            return
        with self._lock:
            self._in_force = {(s.kind, s.scope, s.target): s for s in found}
        self.enforce()

    def _changed_elsewhere(self, payload: JSONDict) -> None:
        threading.Thread(target=self.reload, name="moderation-reload", daemon=True).start()

    def _changed(self) -> None:
        """Tell every process (this one included, through the bus) to read them again."""
        try:
            self._bus.publish(MODERATION_CHANNEL, {"changed": True})
        except BackendError as exc:  # the others will see it at their next refresh
            log("ERROR", f"moderation: could not tell the other processes: {escape(exc)}")
        self.reload()

    # ------------------------------------------------------------------ changes

    def ban(self, scope: str, target: str, seconds: int, reason: str, by: str) -> Sanction:
        """Ban a name or an address (``BackendError`` when the store cannot keep it)."""
        now = self._clock()
        key = target.casefold() if scope == "name" else address_key(target)
        sanction = Sanction("ban", "name" if scope == "name" else "address", key,
                            now + seconds, reason, by, now)
        self._store.set_sanction(sanction)
        self._changed()
        return sanction

    def mute(self, name: str, seconds: int, by: str) -> Sanction | None:
        """Mute ``name`` for ``seconds`` (0 lifts the mute; None is returned then)."""
        if seconds <= 0:
            self.lift("mute", "name", name)
            return None
        now = self._clock()
        sanction = Sanction("mute", "name", name.casefold(), now + seconds, "", by, now)
        self._store.set_sanction(sanction)
        self._changed()
        return sanction

    def lift(self, kind: str, scope: str, target: str) -> bool:
        key = target.casefold() if scope == "name" else address_key(target)
        lifted = self._store.lift_sanction(kind, scope, key)
        self._changed()
        return lifted

    # ------------------------------------------------------------------ queries

    def _find(self, kind: str, scope: str, key: str) -> Sanction | None:
        with self._lock:
            sanction = self._in_force.get((kind, scope, key))
        return sanction if sanction is not None and sanction.until > self._clock() else None

    def name_ban(self, name: str) -> Sanction | None:
        return self._find("ban", "name", name.casefold())

    def address_ban(self, host: str) -> Sanction | None:
        return self._find("ban", "address", address_key(host))

    def muted(self, name: str) -> Sanction | None:
        return self._find("mute", "name", name.casefold())

    # ------------------------------------------------------------------ what players type

    def check_name(self, name: str, *, new: bool = True) -> str:
        """``name`` if a player may use it here (the name rule, the reserved words, the word
        filter for a ``new`` name, no ban), else ``Refused`` saying why."""
        try:
            text.check_name(name, new=new)
        except text.NameInvalid as exc:
            raise Refused("bad_name", str(exc)) from None
        if new and self.words is not None and self.words.blocks(name):
            raise Refused("bad_name", "that name is not allowed on this server: choose "
                          "another")
        banned = self.name_ban(name)
        if banned is not None:
            raise Refused("banned", f"{name} is banned by the host {until_text(banned)}")
        return name

    def check_room(self, room: str) -> str:
        try:
            text.check_name(room, new=False)
        except text.NameInvalid as exc:
            raise Refused("bad_name", str(exc)) from None
        if self.words is not None and self.words.blocks(room):
            raise Refused("bad_name", "that room name is not allowed on this server: "
                          "choose another")
        return room

    def check_chat(self, name: str, line: str) -> None:
        """Refused when ``name`` is muted by the host, or ``line`` has a filtered word."""
        muted = self.muted(name)
        if muted is not None:
            raise Refused("muted", f"the host muted you {until_text(muted)}: your messages "
                          "are not sent")
        if self.words is not None and self.words.blocks(line):
            raise Refused("filtered", "not sent: your message has a word this server does "
                          "not allow")

    def in_force(self) -> list[Sanction]:
        now = self._clock()
        with self._lock:
            return sorted((s for s in self._in_force.values() if s.until > now),
                          key=lambda s: s.until)
