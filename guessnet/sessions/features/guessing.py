"""Number guessing from the player's side: entering a game, guessing, leaving, recording."""

from __future__ import annotations

import math

from guessnet import wire
from guessnet.games.guess import FinishedRound, GuessRoom, HintResult
from guessnet.services.channels import LOBBY, envelope
from guessnet.services.errors import Refused
from guessnet.services.rounds import hint_message, round_ended, round_started
from guessnet.sessions.features import chat, watching
from guessnet.sessions.place import GUESSING, Place
from guessnet.sessions.player_session import PlayerSession
from guessnet.sessions.session import Handler
from guessnet.storage.base import ADMIN_CHANNEL, PLAYERS_CHANNEL, Transition, room_channel

RESERVED_ROOMS = frozenset([LOBBY, ADMIN_CHANNEL, PLAYERS_CHANNEL])


def room_name(session: PlayerSession, name: str) -> str:
    """``name`` if it may name a game room: valid, allowed, and not a channel of its own."""
    session.services.moderation.check_room(name)
    if name.casefold() in RESERVED_ROOMS:
        raise Refused("bad_name", f"{name!r} is one of the server's own channels, not a "
                      "game room: choose another room name")
    return name


def enter(session: PlayerSession, mode: str, room_asked: str | None) -> None:
    """Enter a guessing game: a single-player game, or room ``room_asked`` (``main``)."""
    name = session.need_name()
    services = session.services
    room = room_name(session, room_asked or "main") if mode == "multi" else None
    leave_game(session)
    if room is None:
        single = services.rooms.new_room(f"single-{session.conn_id}", "single")
        single.join(name)
        session.single = single
        session.move_to(Place.SINGLE)
        session.send(round_started(single, name))
        services.registry.publish_presence(session)
        services.channels.admin_event("joined", f"{name} started a single-player game",
                                      conn=session.conn_id, name=name)
        return
    channel = room_channel(room)
    services.channels.leave(session, LOBBY)
    services.channels.join(session, channel)

    now = services.rooms.clock()

    def join(live: GuessRoom) -> Transition[wire.RoundStarted]:
        live.join(name)
        started = round_started(live, name, now)
        update = wire.RoomUpdate(room=room, name=name, event="joined")
        return Transition(value=started, broadcasts=[envelope(update, skip=name)])

    try:
        started = services.rooms.transact(room, join)
    except BaseException:
        services.channels.leave(session, channel)
        services.channels.join(session, LOBBY)
        raise
    session.room = room
    session.move_to(Place.ROOM)
    session.send(started)
    chat.replay(session, channel)
    services.registry.publish_presence(session)
    services.channels.admin_event("joined", f"{name} joined room {room}",
                                  conn=session.conn_id, name=name, room=room)


def on_guess(session: PlayerSession, msg: wire.Guess) -> None:
    name = session.need_name()
    rooms = session.services.rooms
    now = rooms.clock()
    if session.place is Place.SINGLE and session.single is not None:
        single = session.single
        hint, finished = single.guess(name, msg.value, now, rooms.draw_secret)
        session.services.metrics.guesses.inc()
        if finished is None:
            session.send(hint_message(hint))
            return
        recorded = session.services.records.round(finished)
        # "correct" only once the round is recorded; its end and the next round with it
        replies: list[wire.Message] = [hint_message(hint),
                                       round_ended(finished, recorded.game_id)]
        if recorded.note is not None:
            replies.append(wire.Notice(text=recorded.note))
        replies.append(round_started(single, name))
        session.send_all(replies)
        return
    if session.place is not Place.ROOM or session.room is None:
        raise Refused("not_playing", "you are not in a guessing game: choose a mode first "
                      "('1' single, '2' multi)")

    def guess(live: GuessRoom) -> Transition[tuple[HintResult, FinishedRound | None, str]]:
        rooms.check_announced(live)
        hint, finished = live.guess(name, msg.value, now, rooms.draw_secret)
        seen = [envelope(wire.Guessed(room=live.name, name=name, value=hint.value,
                                      result=hint.result, tries_left=hint.tries_left),
                         to=live.watchers)] if live.watchers else []
        clock = ""  # the first guess starts the round's clock: everyone is told
        if finished is None and len(live.moves) == 1 and live.rules.seconds:
            ends = f"round {live.round} ends in {math.ceil(live.rules.seconds)} s"
            clock = f"your guess started the clock: {ends}"
            seen.append(envelope(wire.Notice(text=f"the clock is running: {name} guessed "
                                             f"first, so {ends}"), skip=name))
        return Transition((hint, finished, clock), broadcasts=seen)

    room = session.room
    hint, finished, clock = rooms.transact(room, guess)
    session.services.metrics.guesses.inc()
    if finished is None:
        if clock:  # before the hint: the client prompts again once the hint is in
            session.send(wire.Notice(text=clock))
        session.send(hint_message(hint))
        return
    # Guesses while it is recorded are refused, using no try.  Once it is recorded, the
    # guesser's hint goes straight to them, not over the bus (which may be resubscribing
    # after an outage: the round's end is sent again then, a hint would not be).
    recorded = rooms.record(finished)
    session.send(hint_message(hint))
    rooms.announce(room, finished, recorded)


def on_leave(session: PlayerSession, msg: wire.Leave) -> None:
    session.need_name()
    if session.place is Place.MATCH:
        raise Refused("busy", "you are in a match: 'resign' concedes it")
    if session.place not in GUESSING and session.place is not Place.WATCHING:
        raise Refused("not_playing", "you are not in a game")
    session.to_lobby()


def hold_seat(session: PlayerSession, seconds: float) -> None:
    """The player's connection dropped and their seat is held ``seconds``: tell their room,
    and stop waiting for them to finish the round (no reply sent)."""
    name, room, services = session.name, session.room, session.services
    if session.place is not Place.ROOM or room is None or name is None:
        return
    now = services.rooms.clock()

    def drop(live: GuessRoom) -> Transition[FinishedRound | None]:
        finished = live.drop(name, now, services.rooms.draw_secret(live.upcoming_rules))
        update = wire.RoomUpdate(room=room, name=name, event="away",
                                     seconds=math.ceil(seconds))
        return Transition(value=finished,
                          broadcasts=services.rooms.tell_soon(live, update, skip=name))

    finished = services.rooms.transact(room, drop)
    if finished is not None:
        services.rooms.end_round(room, finished)


def leave_game(session: PlayerSession) -> None:
    """Leave the current guessing game (or stop watching), if any, back to the lobby (no
    reply sent)."""
    name, where, room = session.name, session.place, session.room
    if where is Place.WATCHING:
        watching.stop(session)
        return
    if where not in GUESSING:
        return
    services = session.services
    session.room, session.single = None, None
    session.move_to(Place.LOBBY)
    if name is None:
        return
    if where is Place.ROOM and room is not None:
        now = services.rooms.clock()

        def leave(live: GuessRoom) -> Transition[FinishedRound | None]:
            finished = live.leave(name, now, services.rooms.draw_secret(live.upcoming_rules))
            update = wire.RoomUpdate(room=room, name=name, event="left")
            return Transition(value=finished, broadcasts=[envelope(update)])

        services.channels.leave(session, room_channel(room))
        try:
            finished = services.rooms.transact(room, leave)
        finally:
            if session.name is not None:
                services.channels.join(session, LOBBY)
        if finished is not None:
            services.rooms.end_round(room, finished)
    text = f"room {room}" if room else "single-player game"
    services.channels.admin_event("left", f"{name} left the {text}", conn=session.conn_id,
                                  name=name, room=room)


HANDLERS: dict[type[wire.Message], Handler] = {
    wire.Guess: on_guess, wire.Leave: on_leave,
}
