"""Fair admission of new connections: who may start a TLS handshake now, and whom to shed.

Theory of operation
-------------------
A connection a port accepts is *pending* until its first bytes (the TLS ClientHello) arrive,
then *handshaking* until its handshake ends.  A pending connection costs a thread and nothing
else; a handshake holds one of a few *slots* (the CPU of a handshake is what they bound).  Both
are bounded per address (``address_key``: an IPv4 address, an IPv6 /64) and in total, as
OpenSSH's ``MaxStartups`` and nginx's ``limit_conn`` do.

A newcomer never waits behind a stalled connection.  When a bound is reached, the gate names
whom to shed in the newcomer's place, in order of preference, and the caller sheds the first
that it finds has indeed stalled (the caller looks at the socket: bytes waiting unread mean
the connection is only slow to be served, not stalled):

* pending full (the address's share, or in total): the oldest pending connections, of that
  address first;
* slots full (in total, or the share of the address whose turn it is): the handshakes whose
  client has kept them waiting longest, at least ``stall`` seconds; a client that answers
  promptly is never shed.

With nobody to shed, a pending newcomer is refused (closed at once), and a connection that
wants a slot waits for one until its deadline.  The waiters are served in turns by address, so
a crowd from one address waits behind itself, not in front of others.  A connection that
leaves, or is shed, gives its place back at once.  This module is pure: the clock is handed
in; the caller owns the sockets, the threads and the lock.
"""

from __future__ import annotations

import enum
import functools
import ipaddress
from collections import Counter, deque
from dataclasses import dataclass


@functools.lru_cache(maxsize=4096)  # parsed once per address, not at every connection
def address_key(host: str) -> str:
    """What counts as one address for fairness: an IPv4 address (also IPv4-mapped IPv6), an
    IPv6 /64 (one subscriber's network: addresses inside it cost an attacker nothing)."""
    try:
        ip = ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class Phase(enum.Enum):
    PENDING = "pending"          # accepted; nothing received yet
    HANDSHAKING = "handshaking"  # holds a slot
    GONE = "gone"                # left or shed: counts for nothing


@dataclass(eq=False)
class Entry:
    """One connection at the gate."""

    key: str
    arrived: float
    phase: Phase = Phase.PENDING
    waiting_since: float | None = None  # handshaking: waiting for the client since then
    queued: bool = False  # pending, waiting for a slot
    shed: bool = False


@dataclass(frozen=True)
class GateLimits:
    """``slots``/``slots_per_address``: handshakes at once; ``pending``/``pending_per_address``:
    connections that sent nothing yet; ``stall``: seconds a client may keep its handshake
    waiting before the handshake may be shed for a newcomer."""

    slots: int = 64
    slots_per_address: int = 8
    pending: int = 1024
    pending_per_address: int = 64
    stall: float = 0.5

    @classmethod
    def scaled(cls, slots: int, slots_per_address: int) -> GateLimits:
        """Limits for ``--max-handshakes`` and ``--max-handshakes-per-peer``: sixteen pending
        connections for each slot in total, eight for each slot of an address."""
        return cls(slots=slots, slots_per_address=min(slots, slots_per_address),
                   pending=slots * 16, pending_per_address=min(slots, slots_per_address) * 8)


class Gate:
    """The bookkeeping; see the module docstring.  Not thread-safe: the caller locks."""

    def __init__(self, limits: GateLimits) -> None:
        self.limits = limits
        self._entries: dict[Entry, None] = {}  # in order of arrival
        self._pending: Counter[str] = Counter()
        self._slots: Counter[str] = Counter()
        self._lines: dict[str, deque[Entry]] = {}  # waiting for a slot, by address, in turn
        self.pending_total = 0
        self.slots_total = 0

    def arrive(self, key: str, now: float) -> Entry:
        """Count a newly accepted connection as pending (see ``pending_victims``)."""
        entry = Entry(key, now)
        self._entries[entry] = None
        self._pending[key] += 1
        self.pending_total += 1
        return entry

    def over_pending(self, entry: Entry) -> bool:
        """Whether ``entry``'s arrival took its address, or the port, past the pending bound."""
        limits = self.limits
        return self._pending[entry.key] > limits.pending_per_address or \
            self.pending_total > limits.pending

    def pending_victims(self, entry: Entry) -> list[Entry]:
        """Whom to shed, in order, so that ``entry`` may stay pending: the oldest pending
        connections of its address when the address is past its share, else the oldest of
        all (empty when nothing is over its bound)."""
        if self._pending[entry.key] > self.limits.pending_per_address:
            return [e for e in self._entries if e.phase is Phase.PENDING and e is not entry
                    and e.key == entry.key]
        if self.pending_total > self.limits.pending:
            same = [e for e in self._entries if e.phase is Phase.PENDING and e is not entry
                    and e.key == entry.key]
            others = [e for e in self._entries if e.phase is Phase.PENDING and e is not entry
                      and e.key != entry.key]
            return same + others
        return []

    def request_slot(self, entry: Entry) -> None:
        """``entry`` (pending, its first bytes in) waits for a slot, in its address's line."""
        if entry.phase is Phase.PENDING and not entry.queued:
            entry.queued = True
            self._lines.setdefault(entry.key, deque()).append(entry)

    def next_waiter(self) -> Entry | None:
        """Whom the next free slot goes to: the addresses take turns, each below its share,
        each in the order its connections asked."""
        for key, line in self._lines.items():
            if self._slots[key] < self.limits.slots_per_address:
                return line[0]
        return None

    def grant(self) -> Entry | None:
        """Give a free slot to the next waiter, if there is a slot and a waiter: the entry,
        now handshaking, or None."""
        if self.slots_total >= self.limits.slots:
            return None
        entry = self.next_waiter()
        if entry is None:
            return None
        self._dequeue(entry)
        self._uncount(entry)
        entry.phase = Phase.HANDSHAKING
        entry.waiting_since = None
        self._slots[entry.key] += 1
        self.slots_total += 1
        return entry

    def victims(self, now: float) -> list[Entry]:
        """Whom to shed so that the waiters go on, in order: when the slots are all taken,
        the handshakes whose client has kept them waiting at least ``stall`` seconds,
        longest first; when every waiting address holds its share instead, those of the
        address whose turn it is."""
        if not self._lines:
            return []
        if self.next_waiter() is not None:
            if self.slots_total < self.limits.slots:
                return []  # a slot is free: ``grant`` gives it
            scope = None
        else:
            scope = next(iter(self._lines))
        stalled = [e for e in self._entries if e.phase is Phase.HANDSHAKING
                   and e.waiting_since is not None
                   and now - e.waiting_since >= self.limits.stall
                   and (scope is None or e.key == scope)]
        stalled.sort(key=lambda e: e.waiting_since or 0.0)
        return stalled

    def waiting(self, entry: Entry, since: float | None) -> None:
        """The handshake of ``entry`` waits for its client since ``since`` (None: it does
        not wait, it works)."""
        entry.waiting_since = since

    def shed(self, entry: Entry) -> None:
        """``entry`` is being closed for a newcomer: its place is free now."""
        entry.shed = True
        self.leave(entry)

    def leave(self, entry: Entry) -> None:
        """``entry`` is done (handshake over, failed or shed); a second call does nothing."""
        if entry.phase is Phase.GONE:
            return
        if entry.queued:
            self._dequeue(entry)
        self._uncount(entry)
        entry.phase = Phase.GONE
        del self._entries[entry]

    def _dequeue(self, entry: Entry) -> None:
        """Take ``entry`` out of its line; its address goes to the back of the turns."""
        entry.queued = False
        line = self._lines.pop(entry.key)
        line.remove(entry)
        if line:
            self._lines[entry.key] = line

    def _uncount(self, entry: Entry) -> None:
        counts = self._pending if entry.phase is Phase.PENDING else self._slots
        counts[entry.key] -= 1
        if counts[entry.key] <= 0:
            del counts[entry.key]
        if entry.phase is Phase.PENDING:
            self.pending_total -= 1
        else:
            self.slots_total -= 1
