"""One admin's session: pushed events, listings and moderation.

Only connections that passed mutual TLS with an admin-role certificate get here (server.py checks
the certificate before creating the session), and only admin message types decode on this port.
"""

from __future__ import annotations

import time
from typing import Any

from guessnet import wire
from guessnet.net.conn import Connection
from guessnet.services.composition import Services
from guessnet.services.errors import Refused
from guessnet.services.history import send_history, send_replay
from guessnet.sessions import host_export, host_moderation, host_rooms
from guessnet.sessions.session import HandlerTable, Session, handler_table
from guessnet.support.logs import audit, escape
from guessnet.wire.closing import Close
from guessnet.wire.tables import counted, since_text
from guessnet.wire.text import clean_text


def _age(since: float, now: float) -> str:
    seconds = int(now - since)
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m" if seconds >= 3600 else \
        f"{seconds // 60}m{seconds % 60:02d}s"


class AdminSession(Session):
    """An admin's connection: the shared skeleton plus the admin's listings and moderation."""

    unavailable_message = "storage unavailable: try again in a few seconds"

    def __init__(self, services: Services, conn: Connection, peer: str, holder: str) -> None:
        super().__init__(conn, peer, f"admin-{services.registry.next_id()}", ADMIN_HANDLERS,
                         services.metrics)
        self.services = services
        self.holder = holder
        self.name: str | None = None

    @property
    def label(self) -> str:
        return f"admin {self.peer}"

    def serve(self) -> Close:
        audit("ADMIN", f"admin {escape(self.holder)} connected from {self.peer}")
        try:
            reason = self.conn.run(self.on_message, self.on_protocol_error)
        finally:
            self.services.registry.remove_admin(self)
        audit("ADMIN", f"admin {escape(self.holder)} ({self.peer}) disconnected: {reason}")
        return reason

    def welcomed(self) -> None:
        rules = self.services.settings.rules
        # Welcome first, then events: the admin sees nothing before it knows the server.
        self.send(wire.Welcome(version=wire.PROTOCOL_VERSION,
                                   server=self.services.settings.instance, low=rules.low,
                                   high=rules.high, tries=rules.tries))
        self.services.registry.add_admin(self)

    def on_list(self, msg: wire.ListPlayers) -> None:
        tries: dict[tuple[str, str], int] = {}
        for room in self.services.rooms.live_rooms():
            for player, count in room.tries.items():
                tries[(room.name, player.casefold())] = count
        rows = []
        sessions = self.services.registry.sessions()
        here, now = self.services.settings.instance, time.time()
        # a server column only when another process serves some of the players
        several = any(s["instance"] != here for s in sessions)
        for s in sorted(sessions, key=lambda s: (s["instance"], int(s["conn"]))):
            used = s.get("tries")
            if s.get("room") and s.get("name"):
                used = tries.get((s["room"], s["name"].casefold()))
            conn = s["conn"] if s["instance"] == here else s["owner"]
            rtt = s.get("rtt")
            rows.append([conn, s["peer"], s.get("name") or "-", s["where"],
                         "-" if used is None else used, since_text(s["since"], now),
                         f"{rtt * 1000:.1f} ms" if rtt is not None else "-",
                         *([s["instance"]] if several else [])])
        columns = ["id", "peer", "name", "where", "tries", "since", "rtt"]
        self.send_table(counted(len(rows), "player socket"),
                        columns + (["server"] if several else []), rows)

    def on_rooms(self, msg: wire.ListRooms) -> None:
        rows = [[room.name, room.round, len(room.players),
                 ", ".join(f"{p} ({used}/{room.rules.tries})" for p, used in room.tries.items())
                 or "-"] for room in sorted(self.services.rooms.live_rooms(), key=lambda r: r.name)]
        self.send_table(counted(len(rows), "room"),
                        ["room", "round", "players", "members (tries)"], rows)

    def on_stats(self, msg: wire.Stats) -> None:
        counters = self.services.counters

        def count(key: str) -> str:
            value = counters.get(key)
            return "unknown (counter service unavailable)" if value is None else str(value)

        sessions = self.services.registry.sessions()
        rows: list[list[Any]] = [
            ["players online", sum(1 for s in sessions if s.get("name"))],
            ["connections", len(sessions)],
            ["rounds played", count("rounds:played")],
            ["rounds won", count("rounds:won")],
            ["correct answers", count("correct:total")],
            ["games on record", self.services.store.count_games()],
        ]
        here = self.services.settings.instance
        rows.append([f"uptime of {here}", _age(self.services.started, time.time())])
        last = self.services.channels.last_broadcast
        if last is not None:
            members, seconds = last
            rows.append([f"last broadcast of {here}",
                         f"{members} members in {seconds * 1000:.2f} ms"])
        if counters.incomplete:
            rows.append(["note", "counts are incomplete: the counter service was unreachable"
                         + ("" if counters.available else " (and still is)")])
        self.send_table(f"stats of the whole game (every server process; asked {here})",
                        ["what", "value"], rows)

    def on_kick(self, msg: wire.Kick) -> None:
        reason = clean_text(msg.reason) or "no reason given"
        evicted = self.services.registry.evict(msg.target, Close.KICKED,
                                               f"kicked by the admin: {reason}")
        if evicted is None:
            raise Refused("not_found", f"no player {escape(msg.target, 40)!r}: "
                          "'list' shows ids and names")
        who, conn = evicted
        self.services.channels.admin_event(
            "kick", f"{who} (#{conn}) kicked by {self.holder}: {reason}", "ADMIN",
            audit_event=True, conn=conn, name=who)
        self.send(wire.Ok(message=f"kicked {who} (#{conn})"))

    def on_say(self, msg: wire.Say) -> None:
        text = clean_text(msg.text)
        if not text:
            raise Refused("empty", "nothing to send: type some text after 'say'")
        self.services.channels.broadcast_players(wire.Notice(text=text, sender="admin"))
        self.services.channels.admin_event("say", f"admin to everyone: {text}", "ADMIN")
        self.send(wire.Ok(message="sent to every player"))

    def on_msg(self, msg: wire.DirectMessage) -> None:
        text = clean_text(msg.text)
        if not text:
            raise Refused("empty", "nothing to send: type some text after the name")
        private = wire.Chat(sender="admin", text=text, private=True)
        if not self.services.channels.deliver_to(msg.to, private):
            raise Refused("not_online", f"{escape(msg.to, 40)} is not online")
        self.services.channels.admin_event("msg", f"admin to {msg.to}: {text}", "ADMIN",
                                           name=msg.to)
        self.send(wire.Ok(message=f"sent to {msg.to}"))

    def on_history(self, msg: wire.History) -> None:
        send_history(self.send_table, self.services.store, msg.limit, None)

    def on_replay(self, msg: wire.Replay) -> None:
        send_replay(self.send_table, self.services.store, msg.game_id)


ADMIN_HANDLERS: HandlerTable = handler_table({
    wire.ListPlayers: AdminSession.on_list, wire.ListRooms: AdminSession.on_rooms,
    wire.Stats: AdminSession.on_stats, wire.Kick: AdminSession.on_kick,
    wire.Say: AdminSession.on_say, wire.DirectMessage: AdminSession.on_msg,
    wire.History: AdminSession.on_history, wire.Replay: AdminSession.on_replay,
}, host_moderation.HANDLERS, host_rooms.HANDLERS, host_export.HANDLERS)
