"""Listings a player asks for: who is online, leaderboards, history and replays."""

from __future__ import annotations

from typing import TYPE_CHECKING

import protocol
from guessnet.errors import Refused
from guessnet.listings import send_history, send_leaders, send_replay
from guessnet.session import Handler
from guessnet.tables import counted

if TYPE_CHECKING:
    from guessnet.player import PlayerSession


def on_who(session: PlayerSession, msg: protocol.Who) -> None:
    names = session.services.registry.online_names()
    session.send_table(f"{counted(len(names), 'player')} online", ["name"], [[n] for n in names])


def on_leaders(session: PlayerSession, msg: protocol.Leaders) -> None:
    send_leaders(session.send_table, session.services.store, msg.game)


def on_history(session: PlayerSession, msg: protocol.History) -> None:
    name = session.need_name()
    if not session.account:
        raise Refused("not_logged_in", "history is kept for accounts: "
                      "'register NAME' to keep yours")
    send_history(session.send_table, session.services.store, msg.limit, name)


def on_replay(session: PlayerSession, msg: protocol.Replay) -> None:
    send_replay(session.send_table, session.services.store, msg.game_id)


HANDLERS: dict[type[protocol.Message], Handler] = {
    protocol.Who: on_who, protocol.Leaders: on_leaders, protocol.History: on_history,
    protocol.Replay: on_replay,
}
