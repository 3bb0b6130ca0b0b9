"""One admin's session: pushed events, listings and moderation.

Only connections that passed mutual TLS with an admin-role certificate get here (server.py checks
the certificate before creating the session), and only admin message types decode on this port.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import protocol
from guessnet.conn import Connection
from guessnet.hub import Hub, Refused, clock_text, table_frames
from guessnet.listings import clean_text, deliver_to, send_history, send_replay
from guessnet.logs import escape, log
from guessnet.player import PlayerSession
from storage.base import BackendError


def _age(since: float, now: float) -> str:
    seconds = int(now - since)
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m" if seconds >= 3600 else \
        f"{seconds // 60}m{seconds % 60:02d}s"


class AdminSession:
    def __init__(self, hub: Hub, conn: Connection, peer: str, holder: str) -> None:
        self.hub = hub
        self.conn = conn
        self.peer = peer
        self.holder = holder
        self.conn_id = f"admin-{hub.next_id()}"
        self.name: str | None = None
        self.greeted = False
        self._handlers: dict[type[protocol.Message], Callable[[Any], None]] = {
            protocol.Hello: self.on_hello, protocol.ListPlayers: self.on_list,
            protocol.ListRooms: self.on_rooms, protocol.Stats: self.on_stats,
            protocol.Kick: self.on_kick, protocol.Say: self.on_say,
            protocol.DirectMessage: self.on_msg, protocol.History: self.on_history,
            protocol.Replay: self.on_replay, protocol.Quit: self.on_quit,
            protocol.Pong: lambda msg: None,
        }

    def serve(self) -> str:
        log("CONNECTION", f"admin {escape(self.holder)} connected from {self.peer}")
        try:
            reason = self.conn.run(self.on_message, self.on_protocol_error)
        finally:
            self.hub.remove_admin(self)
        log("CONNECTION", f"admin {escape(self.holder)} ({self.peer}) disconnected: {reason}")
        return reason

    def send_table(self, title: str, columns: list[str], rows: list[list[Any]]) -> None:
        for frame in table_frames(title, columns, rows):
            self.conn.send_frame(frame)

    def on_protocol_error(self, exc: protocol.RemoteProtocolError) -> None:
        log("ERROR", f"admin {self.peer} protocol error {exc.code}: {escape(exc)}")
        self.conn.send(exc.reply())

    def on_message(self, msg: protocol.Message) -> None:
        try:
            if not self.greeted and not isinstance(msg, protocol.Hello):
                raise Refused("hello_first", "send 'hello' with the protocol version first")
            self._handlers[type(msg)](msg)
        except Refused as exc:
            self.conn.send(protocol.Error(code=exc.code, message=str(exc)))
        except BackendError as exc:
            log("ERROR", f"backend: {escape(exc)}")
            self.conn.send(protocol.Error(code="unavailable",
                                          message=f"storage unavailable: {exc}"))

    def on_hello(self, msg: protocol.Hello) -> None:
        if msg.version != protocol.PROTOCOL_VERSION:
            self.conn.send(protocol.Bye(reason="version", message=(
                f"this server speaks protocol {protocol.PROTOCOL_VERSION}: update aclient")))
            self.conn.close("version")
            return
        rules = self.hub.settings.rules
        self.greeted = True
        # Welcome first, then events: the admin sees nothing before it knows the server.
        self.conn.send(protocol.Welcome(version=protocol.PROTOCOL_VERSION,
                                        server=self.hub.settings.instance, low=rules.low,
                                        high=rules.high, tries=rules.tries))
        self.hub.add_admin(self)

    def on_quit(self, msg: protocol.Quit) -> None:
        self.conn.send(protocol.Bye(reason="quit", message="goodbye"))
        self.conn.close("quit")

    def on_list(self, msg: protocol.ListPlayers) -> None:
        tries: dict[tuple[str, str], int] = {}
        for room in self.hub.live_rooms():
            for player, count in room.tries.items():
                tries[(room.name, player.casefold())] = count
        rows = []
        for s in sorted(self.hub.sessions(), key=lambda s: (s["instance"], int(s["conn"]))):
            used = s.get("tries")
            if s.get("room") and s.get("name"):
                used = tries.get((s["room"], s["name"].casefold()))
            conn = s["conn"] if s["instance"] == self.hub.settings.instance else s["owner"]
            rtt = s.get("rtt")
            rows.append([conn, s["peer"], s.get("name") or "-", s["where"],
                         "-" if used is None else used, clock_text(s["since"]),
                         f"{rtt * 1000:.1f} ms" if rtt is not None else "-", s["instance"]])
        self.send_table(f"{len(rows)} player sockets", ["id", "peer", "name", "where", "tries",
                                                       "since", "rtt", "server"], rows)

    def on_rooms(self, msg: protocol.ListRooms) -> None:
        rows = [[room.name, room.round, len(room.players),
                 ", ".join(f"{p} ({used}/{room.rules.tries})" for p, used in room.tries.items())
                 or "-"] for room in sorted(self.hub.live_rooms(), key=lambda r: r.name)]
        self.send_table(f"{len(rows)} rooms", ["room", "round", "players", "members (tries)"],
                        rows)

    def on_stats(self, msg: protocol.Stats) -> None:
        counters = self.hub.backends.counters

        def count(key: str) -> str:
            value = counters.get(key)
            return "unknown (counter service unavailable)" if value is None else str(value)

        sessions = self.hub.sessions()
        rows: list[list[Any]] = [
            ["players online", sum(1 for s in sessions if s.get("name"))],
            ["connections", len(sessions)],
            ["rounds played", count("rounds:played")],
            ["rounds won", count("rounds:won")],
            ["correct answers", count("correct:total")],
            ["games on record", self.hub.backends.store.count_games()],
            ["uptime", _age(self.hub.started, time.time())],
        ]
        if self.hub.last_broadcast is not None:
            members, seconds = self.hub.last_broadcast
            rows.append(["last broadcast", f"{members} members in {seconds * 1000:.2f} ms"])
        if counters.incomplete:
            rows.append(["note", "counts are incomplete: the counter service was unreachable"
                         + ("" if counters.available else " (and still is)")])
        self.send_table(f"stats of {self.hub.settings.instance}", ["what", "value"], rows)

    def on_kick(self, msg: protocol.Kick) -> None:
        reason = clean_text(msg.reason) or "no reason given"
        bye = f"kicked by the admin: {reason}"
        target = self.hub.find_player(msg.target)
        if isinstance(target, PlayerSession):
            who, conn = target.name or target.peer, target.conn_id
            target.evict("kicked", bye)
        else:
            owner = self.hub.locate(msg.target)
            if owner is None:
                raise Refused("not_found", f"no player {escape(msg.target, 40)!r}: "
                              "'list' shows ids and names")
            who, conn = msg.target, owner
            self.hub.send_remote(owner, {"action": "evict", "reason": "kicked", "message": bye})
        self.hub.admin_event("kick", f"{who} (#{conn}) kicked by {self.holder}: {reason}",
                             "ADMIN", conn=conn, name=who)
        self.conn.send(protocol.Ok(message=f"kicked {who} (#{conn})"))

    def on_say(self, msg: protocol.Say) -> None:
        text = clean_text(msg.text)
        if not text:
            raise Refused("empty", "nothing to send: type some text after 'say'")
        self.hub.broadcast_players(protocol.Notice(text=text, sender="admin"))
        self.hub.admin_event("say", f"admin to everyone: {text}", "ADMIN")
        self.conn.send(protocol.Ok(message="sent to every player"))

    def on_msg(self, msg: protocol.DirectMessage) -> None:
        text = clean_text(msg.text)
        if not text:
            raise Refused("empty", "nothing to send: type some text after the name")
        if not deliver_to(self.hub, msg.to, protocol.Notice(text=text, sender="admin")):
            raise Refused("not_online", f"{escape(msg.to, 40)} is not online")
        self.hub.admin_event("msg", f"admin to {msg.to}: {text}", "ADMIN", name=msg.to)
        self.conn.send(protocol.Ok(message=f"sent to {msg.to}"))

    def on_history(self, msg: protocol.History) -> None:
        send_history(self.send_table, self.hub, msg.limit, None)

    def on_replay(self, msg: protocol.Replay) -> None:
        send_replay(self.send_table, self.hub, msg.game_id)
