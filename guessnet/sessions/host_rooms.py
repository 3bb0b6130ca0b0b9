"""The admin's hand on the pace of a room: pause, resume, next, lock, unlock, rules.

Each is one room transaction (``services.rooms``), so it holds on every process sharing the
room's state, and its notice reaches everyone in the room in the same step.  What the rules
refuse (pausing a paused room, say) is the admin's ``rejected`` error; a room nobody is in is
``not_found``.
"""

from __future__ import annotations

from collections.abc import Callable

from guessnet import wire
from guessnet.games.guess import FinishedRound, GuessRoom, Rules
from guessnet.services.channels import envelope
from guessnet.services.errors import Refused
from guessnet.services.rounds import round_started
from guessnet.sessions.host_moderation import Host, tell_admins
from guessnet.sessions.session import HandlerTable
from guessnet.storage.base import JSONDict, Transition
from guessnet.wire.text import escape

Change = Callable[[GuessRoom, float], list[JSONDict]]  # the room, now -> its broadcasts


def notice(text: str) -> JSONDict:
    return envelope(wire.Notice(text=text, sender="admin"))


def host_change(host: Host, room: str, change: Change, done: str,
                after: Callable[[], None] | None = None) -> None:
    """Apply ``change`` to ``room`` (which must exist), then ``after``; tell the admins and
    answer ``done``."""
    rooms = host.services.rooms
    if not any(live.name == room and live.mode == "multi" for live in rooms.live_rooms()):
        raise Refused("not_found", f"no room {escape(room, 40)!r} is playing: 'rooms' lists "
                      "them")
    now = rooms.clock()
    rooms.transact(room, lambda live: Transition(None, broadcasts=change(live, now)))
    if after is not None:
        after()
    tell_admins(host, "room", f"room {room}: {done}", room=room)
    host.send(wire.Ok(message=f"room {room}: {done}"))


def on_pause(host: Host, msg: wire.PauseRoom) -> None:
    def pause(live: GuessRoom, now: float) -> list[JSONDict]:
        live.pause(now)
        return [notice("the host paused the game: the clock stands still and guesses wait "
                       "until they resume it"), envelope(round_started(live, None, now))]

    host_change(host, msg.room, pause, "paused")


def on_resume(host: Host, msg: wire.ResumeRoom) -> None:
    def resume(live: GuessRoom, now: float) -> list[JSONDict]:
        live.resume(now)
        return [notice("the host resumed the game: guess away"),
                envelope(round_started(live, None, now))]

    host_change(host, msg.room, resume, "resumed")


def on_lock(host: Host, msg: wire.LockRoom | wire.UnlockRoom) -> None:
    locked = isinstance(msg, wire.LockRoom)

    def lock(live: GuessRoom, now: float) -> list[JSONDict]:
        live.lock(locked)
        return [notice("the host locked this room: no new players" if locked else
                       "the host unlocked this room: new players are welcome")]

    host_change(host, msg.room, lock, "locked" if locked else "unlocked")


def on_rules(host: Host, msg: wire.RoomRules) -> None:
    def rules(live: GuessRoom, now: float) -> list[JSONDict]:
        current = live.upcoming_rules
        seconds = current.seconds if msg.seconds is None else (msg.seconds or None)
        try:
            upcoming = Rules(current.low if msg.low is None else msg.low,
                             current.high if msg.high is None else msg.high,
                             current.tries if msg.tries is None else msg.tries, seconds)
        except ValueError as exc:
            raise Refused("bad_rules", f"{exc}: nothing was changed") from None
        live.set_rules(upcoming)
        return [notice("the host changed the rules: from the next round, "
                       f"{rules_text(upcoming)}")]

    host_change(host, msg.room, rules, "new rules from the next round")


def rules_text(rules: Rules) -> str:
    clock = f", {rules.seconds:g} s a round" if rules.seconds else ", no time limit"
    return f"guess {rules.low} ~ {rules.high} with {rules.tries} tries{clock}"


def on_next(host: Host, msg: wire.NextRound) -> None:
    """End the round now (``stopped``), revealing the number; the next one starts at once."""
    rooms = host.services.rooms
    ended: list[FinishedRound] = []

    def stop(live: GuessRoom, now: float) -> list[JSONDict]:
        rooms.check_announced(live)
        ended.append(live.stop(now, rooms.draw_secret(live.upcoming_rules)))
        return []

    host_change(host, msg.room, stop, "the round was ended",
                lambda: rooms.end_round(msg.room, ended[-1]))


HANDLERS: HandlerTable = {
    wire.PauseRoom: on_pause, wire.ResumeRoom: on_resume, wire.LockRoom: on_lock,
    wire.UnlockRoom: on_lock, wire.RoomRules: on_rules, wire.NextRound: on_next,
}
