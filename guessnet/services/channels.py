"""Channels: who hears what, and delivery to local sessions.

Room and lobby traffic goes through the ``Bus``: a session joins a channel and every payload
published there is delivered to this process's members, encoded once for all of them and queued
on every member's outbox before any is written or woken (``Outbox.put_to_all``).  Admin events and
announcements to every player go through the bus as well, so admins and players on any process
see what happens on all of them when the bus is shared.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Collection

from guessnet import wire
from guessnet.net.outbox import Outbox
from guessnet.net.wakeup import Wakeup
from guessnet.services.control import Control, Deliver, split_owner
from guessnet.services.registry import Listener, Member, Registry, guarded
from guessnet.services.ticker import Ticker
from guessnet.storage.base import ADMIN_CHANNEL, PLAYERS_CHANNEL, Bus, JSONDict
from guessnet.support.logs import audit, clock_text, escape, log

ADMIN_EVERY = 0.02  # seconds: how late an admin may hear of an event
ADMIN_BATCH = 50  # admin events at most in one publish (a busy beat publishes several)

LOBBY = "lobby"


def frames_of(envelope: JSONDict) -> list[bytes]:
    """The frames of a bus envelope: one ``msg``, or several ``msgs`` delivered together."""
    if "msgs" in envelope:
        return [wire.encode_built(msg) for msg in envelope["msgs"]]
    return [wire.encode_built(envelope["msg"])]


def envelope(*msgs: wire.Message, only: str | None = None, skip: str | None = None,
             to: Collection[str] | None = None) -> JSONDict:
    """The bus payload for room messages; ``only``/``skip`` name a player, ``to`` several
    (a room's watchers) (case-folded).

    Several messages (a round's end and the next round's start) travel in one envelope, so
    they cost one publish and one pass over the members."""
    payload: JSONDict = ({"msg": msgs[0].to_dict()} if len(msgs) == 1 else
                         {"msgs": [msg.to_dict() for msg in msgs]})
    if only is not None:
        payload["only"] = only.casefold()
    if skip is not None:
        payload["skip"] = skip.casefold()
    if to is not None:
        payload["to"] = [name.casefold() for name in to]
    return payload


class Channels:
    """Callers use the public methods; ``start`` subscribes the process-wide channels and
    starts the admin events' publisher, ``close`` sends what it holds and stops it.

    Admin events are published by one thread, every ``ADMIN_EVERY`` seconds, all that came
    in between in one envelope: a player's connect, join, round end and leave each made its
    handler thread wait for a Redis PUBLISH, which under load held thousands of threads on
    Redis connections; and one PUBLISH an event was a tenth of a round end's Redis commands."""

    def __init__(self, bus: Bus, registry: Registry, control: Control, wakeup: Wakeup,
                 clock: Callable[[], float] = time.time) -> None:
        self._bus = bus
        self._registry = registry
        self._control = control
        self._wakeup = wakeup
        self._clock = clock
        self._lock = threading.Lock()
        self._members: dict[str, set[Member]] = defaultdict(set)
        self.last_broadcast: tuple[int, float] | None = None  # members, seconds to queue
        self._admin_events: deque[wire.AdminEvent] = deque()
        self._admin_publisher = Ticker("admin-events", ADMIN_EVERY, self._publish_admin_events)
        control.on(Deliver, self._on_deliver)

    def start(self) -> None:
        self._bus.subscribe(ADMIN_CHANNEL, self._deliver_admins)
        self._bus.subscribe(PLAYERS_CHANNEL, self._deliver_everyone)
        self._admin_publisher.start()

    def close(self) -> None:
        self._admin_publisher.close()
        self._publish_admin_events()

    def _publish_admin_events(self) -> None:
        """Publish what was queued since the last beat: up to ``ADMIN_BATCH`` events in one
        envelope (one PUBLISH with ``--redis``, one delivery pass on every process)."""
        queued = self._admin_events
        while queued:
            msgs = [queued.popleft() for _ in range(min(len(queued), ADMIN_BATCH))]
            guarded(f"admin events ({len(msgs)}, the first {msgs[0].kind})",
                    functools.partial(self._bus.publish, ADMIN_CHANNEL, envelope(*msgs)))

    def _send_all(self, listeners: list[Member] | list[Listener], frames: list[bytes]) -> None:
        Outbox.put_to_all([listener.conn.outbox for listener in listeners], frames,
                          self._wakeup)

    # ------------------------------------------------------------------ membership

    def join(self, member: Member, channel: str) -> None:
        with self._lock:
            first = not self._members[channel]
            self._members[channel].add(member)
        if first:
            try:
                self._bus.subscribe(channel, lambda payload: self._deliver(channel, payload))
            except BaseException:
                self.leave(member, channel)
                raise

    def leave(self, member: Member, channel: str) -> None:
        with self._lock:
            members = self._members.get(channel)
            if members is None:
                return
            members.discard(member)
            emptied = not members
            if emptied:
                del self._members[channel]
        if emptied:
            guarded(f"unsubscribe {channel}", lambda: self._bus.unsubscribe(channel))

    def leave_all(self, member: Member) -> None:
        with self._lock:
            channels = [c for c, members in self._members.items() if member in members]
        for channel in channels:
            self.leave(member, channel)

    def rebind(self, old: Member, new: Member) -> None:
        """A resumed session takes over ``old``'s channels."""
        with self._lock:
            for members in self._members.values():
                if old in members:
                    members.discard(old)
                    members.add(new)

    def local_members(self, prefix: str) -> dict[str, list[Member]]:
        """This process's members of every channel whose name starts with ``prefix``."""
        with self._lock:
            return {c: list(m) for c, m in self._members.items() if c.startswith(prefix)}

    # ------------------------------------------------------------------ delivery

    def publish(self, channel: str, msg: wire.Message, *, only: str | None = None,
                skip: str | None = None) -> None:
        self._bus.publish(channel, envelope(msg, only=only, skip=skip))

    def _deliver(self, channel: str, payload: JSONDict) -> None:
        started = time.perf_counter()
        with self._lock:
            members = list(self._members.get(channel, ()))
        only, skip, to = payload.get("only"), payload.get("skip"), payload.get("to")
        frames = frames_of(payload)  # encoded once for every member
        # (inline, not a function call per member: a round's end goes to every member)
        if only is not None:
            members = [m for m in members if m.name is not None and m.name.casefold() == only]
        if skip is not None:
            members = [m for m in members if m.name is None or m.name.casefold() != skip]
        if to is not None:
            members = [m for m in members if m.name is not None and m.name.casefold() in to]
        self._send_all(members, frames)
        if only is None and len(members) > 1:
            self.last_broadcast = (len(members), time.perf_counter() - started)

    def broadcast_players(self, msg: wire.Message) -> None:
        """Send ``msg`` to every player on every process (encoded once per process)."""
        self._bus.publish(PLAYERS_CHANNEL, {"msg": msg.to_dict()})

    def _deliver_everyone(self, payload: JSONDict) -> None:
        self._send_all(self._registry.players(), frames_of(payload))

    def deliver_to(self, name: str, msg: wire.Message) -> bool:
        """Send ``msg`` to the player called ``name`` on whichever process; False if
        offline."""
        target = self._registry.find_named(name)
        if target is not None:
            target.conn.send(msg)
            return True
        owner = self._registry.locate(name)
        if owner is None:
            return False
        instance, conn = split_owner(owner)
        self._control.send(instance, Deliver(conn=conn, msg=msg.to_dict()))
        return True

    def _on_deliver(self, msg: Deliver) -> None:
        member = self._registry.local(msg.conn)
        if member is not None:
            member.conn.send_frame(wire.encode_built(msg.msg))

    # ------------------------------------------------------------------ admin events

    def admin_event(self, kind: str, text: str, log_as: str | None = "GAME",
                    audit_event: bool = False, **fields: str | None) -> None:
        """Tell every admin (on every process sharing the bus) that something happened;
        also log it under ``log_as`` unless the caller logged it already (None), in the
        audit log too when it is an ``audit_event`` (moderation)."""
        if log_as is not None:
            (audit if audit_event else log)(log_as, f"{kind}: {escape(text)}")
        event = wire.AdminEvent(kind=kind, at=clock_text(self._clock()), text=text[:2000],
                                    **fields)
        self._admin_events.append(event)  # encoded and published by its own thread

    def _deliver_admins(self, payload: JSONDict) -> None:
        admins = self._registry.admins()
        if admins:  # nothing to encode for nobody (most of a class's hour)
            self._send_all(admins, frames_of(payload))
