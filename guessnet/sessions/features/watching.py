"""Watching: following a room's rounds, or a match, without playing.

``watch ROOM`` puts the player among the room's watchers: they get its round ends, its players'
comings and goings, every guess's outcome (``guessed``) and its chat (they may chat too), and
never count for the end of a round.  ``watch NAME`` follows the match NAME plays, board by
board.  ``exit`` (``leave``), or ``watch`` with no target, stops.
"""

from __future__ import annotations

from guessnet import wire
from guessnet.games.guess import GuessRoom
from guessnet.services.channels import LOBBY
from guessnet.services.errors import Refused
from guessnet.services.rounds import round_started
from guessnet.sessions.features import chat
from guessnet.sessions.place import GAMES, Place
from guessnet.sessions.player_session import PlayerSession
from guessnet.sessions.session import Handler
from guessnet.storage.base import Transition, room_channel
from guessnet.wire.text import escape


def on_watch(session: PlayerSession, msg: wire.Watch) -> None:
    name = session.need_name()
    if session.place in GAMES:
        raise Refused("busy", "you are playing: 'exit' first, then watch")
    target = msg.room or msg.player
    stop(session)
    if target is None:
        session.send(wire.Ok(message="you stopped watching"))
        return
    services = session.services
    rooms = [live for live in services.rooms.live_rooms() if live.mode == "multi"]
    if msg.room is not None and any(live.name == msg.room for live in rooms):
        watch_room(session, name, msg.room)
    elif services.matches.watch(session, target):
        session.move_to(Place.WATCHING)
        session.send(wire.Ok(message=f"watching {target}'s match: 'exit' stops"))
    else:
        raise Refused("not_found", f"no room called {escape(target, 40)!r} is playing, and "
                      "nobody of that name plays a match here: 'who' lists the players")


def watch_room(session: PlayerSession, name: str, room: str) -> None:
    services = session.services
    now = services.rooms.clock()

    def watch(live: GuessRoom) -> Transition[wire.RoundStarted]:
        live.watch(name)
        return Transition(round_started(live, None, now))

    services.channels.join(session, room_channel(room))
    try:
        started = services.rooms.transact(room, watch)
    except BaseException:
        services.channels.leave(session, room_channel(room))
        raise
    services.channels.leave(session, LOBBY)
    session.room = room
    session.move_to(Place.WATCHING)
    session.send(wire.Ok(message=f"watching room {room}, round {started.round}: you see its "
                         "guesses and round ends, 'say' chats, 'exit' stops"))
    chat.replay(session, room_channel(room))


def stop(session: PlayerSession) -> None:
    """Stop watching, if the player watches something (no reply sent)."""
    if session.place is not Place.WATCHING:
        return
    services, room, name = session.services, session.room, session.name
    services.matches.unwatch(session)
    if room is not None and name is not None:

        def unwatch(live: GuessRoom) -> Transition[None]:
            live.unwatch(name)
            return Transition(None)

        services.channels.leave(session, room_channel(room))
        services.rooms.transact(room, unwatch)
    session.room = None
    session.move_to(Place.LOBBY)
    if session.name is not None:
        services.channels.join(session, LOBBY)


HANDLERS: dict[type[wire.Message], Handler] = {wire.Watch: on_watch}
