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
from guessnet.hub import Hub, clock_text, table_frames
from guessnet.logs import escape, log
from guessnet.player import PlayerSession, Refused, clean_text, send_history, send_replay
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

    def _players(self) -> list[PlayerSession]:
        return sorted((p for p in list(self.hub.players.values())
                       if isinstance(p, PlayerSession)), key=lambda p: int(p.conn_id))

    def on_list(self, msg: protocol.ListPlayers) -> None:
        tries: dict[tuple[str, str], int] = {}
        for room in self.hub.live_rooms():
            for player, count in room.tries.items():
                tries[(room.name, player.casefold())] = count
        rows = []
        for p in self._players():
            used: int | None = p.tries_used()
            if p.mode == "multi" and p.room and p.name:
                used = tries.get((p.room, p.name.casefold()))
            rtt = p.conn.rtt
            rows.append([p.conn_id, p.peer, p.name or "-", p.where,
                         "-" if used is None else used, clock_text(p.connected_at),
                         f"{rtt * 1000:.1f} ms" if rtt is not None else "-"])
        self.send_table(f"{len(rows)} player sockets on {self.hub.settings.instance}",
                        ["id", "peer", "name", "where", "tries", "since", "rtt"], rows)

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

        players = list(self.hub.players.values())
        rows: list[list[Any]] = [
            ["players online", sum(1 for p in players if p.name)],
            ["connections", len(players)],
            ["rounds played", count("rounds:played")],
            ["rounds won", count("rounds:won")],
            ["correct answers", count("correct:total")],
            ["games on record", self.hub.backends.store.count_games()],
            ["uptime", _age(self.hub.started, time.time())],
        ]
        if not counters.available:
            rows.append(["note", "counts are incomplete: the counter service was unreachable"])
        self.send_table(f"stats of {self.hub.settings.instance}", ["what", "value"], rows)

    def on_kick(self, msg: protocol.Kick) -> None:
        target = self.hub.find_player(msg.target)
        if not isinstance(target, PlayerSession):
            raise Refused("not_found", f"no player {escape(msg.target, 40)!r}: "
                          "'list' shows ids and names")
        reason = clean_text(msg.reason) or "no reason given"
        who = target.name or target.peer
        target.evict("kicked", f"kicked by the admin: {reason}")
        self.hub.admin_event("kick", f"{who} (#{target.conn_id}) kicked by {self.holder}: "
                             f"{reason}", "ADMIN", conn=target.conn_id, peer=target.peer,
                             name=target.name)
        self.conn.send(protocol.Ok(message=f"kicked {who} (#{target.conn_id})"))

    def on_say(self, msg: protocol.Say) -> None:
        text = clean_text(msg.text)
        if not text:
            raise Refused("empty", "nothing to send: type some text after 'say'")
        self.hub.broadcast_players(protocol.Notice(text=text, sender="admin"))
        self.hub.admin_event("say", f"admin to everyone: {text}", "ADMIN")
        self.conn.send(protocol.Ok(message=f"sent to {len(self.hub.players)} players"))

    def on_msg(self, msg: protocol.DirectMessage) -> None:
        text = clean_text(msg.text)
        target = self.hub.find_player(msg.to)
        if target is None or target.name is None:
            raise Refused("not_online", f"{escape(msg.to, 40)} is not online")
        if not text:
            raise Refused("empty", "nothing to send: type some text after the name")
        target.conn.send(protocol.Notice(text=text, sender="admin"))
        self.hub.admin_event("msg", f"admin to {target.name}: {text}", "ADMIN",
                             name=target.name)
        self.conn.send(protocol.Ok(message=f"sent to {target.name}"))

    def on_history(self, msg: protocol.History) -> None:
        send_history(self.send_table, self.hub, msg.limit, None)

    def on_replay(self, msg: protocol.Replay) -> None:
        send_replay(self.send_table, self.hub, msg.game_id)
