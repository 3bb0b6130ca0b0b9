"""Listings a player asks for: who is online, leaderboards, history and replays."""

from __future__ import annotations

from guessnet import wire
from guessnet.services.errors import Refused
from guessnet.services.history import send_history, send_leaders, send_replay
from guessnet.sessions.player_session import PlayerSession
from guessnet.sessions.session import Handler
from guessnet.wire.tables import counted


def on_who(session: PlayerSession, msg: wire.Who) -> None:
    names = session.services.registry.online_names()
    session.send_table(f"{counted(len(names), 'player')} online", ["name"], [[n] for n in names])


def on_leaders(session: PlayerSession, msg: wire.Leaders) -> None:
    send_leaders(session.send_table, session.services.store, msg.game)


def on_history(session: PlayerSession, msg: wire.History) -> None:
    name = session.need_name()
    if not session.account:
        raise Refused("not_logged_in", "history is kept for accounts: "
                      "'register NAME' to keep yours")
    send_history(session.send_table, session.services.store, msg.limit, name)


def on_replay(session: PlayerSession, msg: wire.Replay) -> None:
    send_replay(session.send_table, session.services.store, msg.game_id)


HANDLERS: dict[type[wire.Message], Handler] = {
    wire.Who: on_who, wire.Leaders: on_leaders, wire.History: on_history,
    wire.Replay: on_replay,
}
