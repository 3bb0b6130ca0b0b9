"""The composition root: every service of a server process, built once by ``build``.

Each service has one job (registry, channels, rooms, control, login throttle,
matches, invitations) and is handed the others it needs here, and nowhere else.  Constructors
start no thread: ``Services.start`` starts them (and the bus), ``Services.close`` stops and
joins them.  Sessions get the ``Services`` and use its fields; listings and history take only
the ``Store``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from guessnet.games.guess import GuessRoom, Rules
from guessnet.net.wakeup import Wakeup
from guessnet.services.channels import Channels
from guessnet.services.control import Control
from guessnet.services.departures import Departures
from guessnet.services.hashing import DEFAULT_WORKERS, PasswordHashing
from guessnet.services.invitations import Invitations
from guessnet.services.journal import Journal
from guessnet.services.matches import Matches
from guessnet.services.metrics import Metrics
from guessnet.services.moderation import Moderation, until_text
from guessnet.services.passwords import Throttle
from guessnet.services.records import Records
from guessnet.services.registry import Admission, Registry
from guessnet.services.rooms import Rooms, SecretDraws, SecretSource
from guessnet.services.roundclock import RoundClock
from guessnet.services.seats import Seats
from guessnet.services.wordfilter import WordFilter
from guessnet.storage.base import Bus, ChatLog, Counters, Presence, RoomStore, Store
from guessnet.storage.memory import MemoryChatLog
from guessnet.wire.closing import Close

# Departures sweep this often per presence TTL: a dead process's players are out of their
# rooms within 7/6 of the TTL (the names expire within it, the next sweep takes them out).
SWEEPS_PER_TTL = 6


@dataclass(frozen=True)
class Settings:
    rules: Rules = field(default_factory=Rules)
    instance: str = "guessnet"
    admission: Admission = field(default_factory=Admission)
    resume_grace: float = 30.0
    idle_timeout: float = 120.0
    data_dir: Path = Path("data")
    hash_workers: int = DEFAULT_WORKERS
    word_filter: WordFilter | None = None


@dataclass
class Backends:
    store: Store
    rooms: RoomStore[GuessRoom]
    bus: Bus
    counters: Counters
    presence: Presence
    chatlog: ChatLog = field(default_factory=MemoryChatLog)

    def close(self) -> None:
        self.bus.close()
        self.store.close()
        self.counters.close()


class Logins:
    """The login throttle shared by every session of this process (``accounts.Throttle``
    behind a lock, on the monotonic clock): ``attempt`` before checking a password, then
    ``succeeded`` or ``refund`` (the check did not happen)."""

    def __init__(self) -> None:
        self._throttle = Throttle()
        self._lock = threading.Lock()

    def clean(self, address: str) -> bool:
        with self._lock:
            return self._throttle.clean(address, time.monotonic())

    def attempt(self, account: str, address: str) -> float:
        with self._lock:
            return self._throttle.attempt(account, address, time.monotonic())

    def succeeded(self, account: str, address: str) -> None:
        with self._lock:
            self._throttle.succeeded(account, address)

    def refund(self, account: str, address: str) -> None:
        with self._lock:
            self._throttle.refund(account, address)


@dataclass
class Services:
    """What sessions use; built by ``build``."""

    settings: Settings
    store: Store
    counters: Counters
    bus: Bus
    control: Control
    registry: Registry
    channels: Channels
    rooms: Rooms
    logins: Logins
    hashing: PasswordHashing
    records: Records
    departures: Departures
    round_clock: RoundClock
    metrics: Metrics
    matches: Matches
    invitations: Invitations
    moderation: Moderation
    chatlog: ChatLog
    clock: Callable[[], float]
    started: float = field(default_factory=time.time)

    def start(self) -> None:
        """Subscribe, start the bus and every service's thread (raises ``BackendError``
        when the bus cannot start)."""
        self.records.start()
        self.control.start()
        self.channels.start()
        self.bus.on_reconnect(self.rooms.resync)
        self.bus.on_reconnect(lambda lost_at: self.registry.publish_all())
        self.bus.start()
        self.registry.start()
        self.departures.start()
        self.round_clock.start()
        self.invitations.start()
        self.moderation.start()

    def close(self) -> None:
        """Stop every service's thread and wait for it (the backends stay open)."""
        self.hashing.close()
        self.moderation.close()
        self.invitations.close()
        self.records.close()
        self.departures.close()
        self.round_clock.close()
        self.channels.close()
        self.registry.close()


def build(settings: Settings, backends: Backends, wakeup: Wakeup,
          secrets: SecretSource | None = None,
          clock: Callable[[], float] = time.time) -> Services:
    """Every service of one server process, wired together; nothing started yet."""
    control = Control(backends.bus, settings.instance)
    registry = Registry(settings.instance, backends.presence, control, settings.admission)
    channels = Channels(backends.bus, registry, control, wakeup, clock)
    metrics = Metrics()
    records = Records(backends.store, backends.counters, registry, channels,
                      Journal(settings.data_dir), metrics)
    rooms = Rooms(backends.rooms, settings.rules, channels, secrets or SecretDraws(),
                  records.round, clock)
    metrics.gauge("guessnet_players_connected", "Player connections to this process",
                  lambda: len(registry.players()))
    metrics.gauge("guessnet_rooms", "Multiplayer rooms with players (in the whole game)",
                  lambda: len(rooms.live_rooms()))
    metrics.count_sent(lambda: sum(m.conn.outbox.queued_total for m in registry.players()))
    departures = Departures(rooms, registry, backends.presence.ttl / SWEEPS_PER_TTL)
    seats = Seats(registry, channels, control)
    matches = Matches(seats, channels, control, records.match)
    invitations = Invitations(seats, channels, control, backends.store, matches)
    moderation = Moderation(backends.store, backends.bus, settings.word_filter, clock)
    moderation.enforce = lambda: enforce_bans(registry, moderation)
    return Services(settings=settings, store=backends.store, counters=backends.counters,
                    bus=backends.bus, control=control, registry=registry, channels=channels,
                    rooms=rooms, logins=Logins(),
                    hashing=PasswordHashing(settings.hash_workers),
                    records=records, departures=departures,
                    round_clock=RoundClock(rooms, channels), metrics=metrics,
                    matches=matches, invitations=invitations, moderation=moderation,
                    chatlog=backends.chatlog, clock=clock)


def enforce_bans(registry: Registry, moderation: Moderation) -> None:
    """Close this process's players whom a ban covers (by name, or by address).  It runs at
    every reading of the sanctions (every two seconds): with no ban in force, as in most
    games, it does not look at the players."""
    if not any(sanction.kind == "ban" for sanction in moderation.in_force()):
        return
    for member in registry.players():
        ban = moderation.name_ban(member.name) if member.name else None
        ban = ban or moderation.address_ban(member.conn.peer.rsplit(":", 1)[0])
        if ban is not None:
            member.evict(Close.BANNED, f"banned by the host {until_text(ban)}")
