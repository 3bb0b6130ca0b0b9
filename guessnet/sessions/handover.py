"""Resume anywhere: a seat held by one process is taken over by its player on another.

With several processes behind one address (``--workers N``, or hosts sharing Redis), a player
whose Wi-Fi blinked reconnects to any of them.  When a connection drops, its process notes in
the shared state that it holds the seat of that resume token (``Presence.hold_seat``, for the
grace period).  A process shown a token it did not issue looks the holder up and asks it over
the bus (``SeatClaim``).  The holder takes the token (single use, as for a resume on the same
process), lets the seat go without a trace (nobody is told the player left; a match it hosts
goes on and reaches the player at their new process) and answers with the seat
(``SeatHanded``): name, account, place, room, single-player game, and the match's host.  The
new process holds the name from then on (taken over: nobody is evicted), follows the room (the
tries are in the shared room state) or the match, and tells the player where they are, as a
resume on the same process does.  A holder that does not answer within ``CLAIM_TIMEOUT``
seconds holds no seat.
"""

from __future__ import annotations

import secrets
import threading
from typing import Any

from guessnet.games.guess import GuessRoom
from guessnet.services.channels import LOBBY
from guessnet.services.composition import Services
from guessnet.services.control import SeatClaim, SeatHanded
from guessnet.services.resume import token_hash
from guessnet.sessions.place import Place
from guessnet.sessions.player_session import PlayerKit, PlayerSession
from guessnet.storage.base import BackendError, JSONDict, room_channel
from guessnet.support.logs import escape, log
from guessnet.wire.text import NameInvalid, check_name

CLAIM_TIMEOUT = 3.0  # seconds the holder has to answer a claim
KEPT = (Place.SINGLE, Place.ROOM, Place.MATCH)  # places a seat moves with (else: the lobby)


class Handover:
    """This process's side of resume anywhere (see the module docstring): ``held`` when a
    seat is held here, ``claim`` when a player shows a token issued elsewhere."""

    def __init__(self, services: Services, kit: PlayerKit) -> None:
        self._services, self._kit = services, kit
        self._lock = threading.Lock()
        self._waiting: dict[str, tuple[threading.Event, list[JSONDict]]] = {}
        services.control.on(SeatClaim, self._on_claim)
        services.control.on(SeatHanded, self._on_handed)

    @property
    def _instance(self) -> str:
        return self._services.control.instance

    def held(self, session: PlayerSession) -> None:
        digest = session.token_hash
        if digest is None:
            return
        try:
            self._services.registry.presence.hold_seat(digest, self._instance,
                                                       self._kit.resume.grace)
        except BackendError as exc:  # resumable here still, not elsewhere
            log("ERROR", f"{session.peer}: seat not shared for a resume: {escape(exc)}")

    # ------------------------------------------------------------------ the new process

    def claim(self, session: PlayerSession, token: str) -> bool:
        services = self._services
        digest = token_hash(token)
        try:
            holder = services.registry.presence.seat_holder(digest)
        except BackendError:
            return False
        if holder is None or holder == self._instance:
            return False
        request = secrets.token_hex(8)
        answered, box = threading.Event(), list[JSONDict]()
        with self._lock:
            self._waiting[request] = (answered, box)
        try:
            services.control.send(holder, SeatClaim(
                token_hash=digest, claimant=services.registry.owner(session),
                reply_to=self._instance, request=request))
            answered.wait(CLAIM_TIMEOUT)
        except BackendError:
            return False
        finally:
            with self._lock:
                self._waiting.pop(request, None)
        if not box:
            return False
        try:
            self._adopt(session, box[0])
        except (KeyError, TypeError, ValueError, NameInvalid) as exc:  # another version's
            log("ERROR", f"seat from {escape(holder)} not taken: {escape(exc)}")
            return False
        log("AUTH", f"{session.peer} resumed {session.name}'s seat held by {escape(holder)}")
        return True

    def _on_handed(self, msg: SeatHanded) -> None:
        with self._lock:
            waiting = self._waiting.get(msg.request)
        if waiting is not None:
            if msg.ok:
                waiting[1].append(msg.seat)
            waiting[0].set()

    def _adopt(self, session: PlayerSession, seat: JSONDict) -> None:
        """Put the seat on ``session`` (its match is shown once the player is told who they
        are: ``Matches.show``)."""
        services = self._services
        name = check_name(_typed(seat, "name", str), new=False)
        where = Place(_typed(seat, "place", str))
        room, single = seat.get("room"), seat.get("single")
        game = GuessRoom.from_dict(single) if where is Place.SINGLE and single else None
        session.name, session.account = name, _typed(seat, "account", bool)
        services.registry.adopt(session)
        session.move_to(Place.LOBBY)
        if where is Place.ROOM and isinstance(room, str):
            session.room = room
            services.channels.join(session, room_channel(room))
            session.move_to(Place.ROOM)
            return
        services.channels.join(session, LOBBY)
        if game is not None:
            session.single = game
            session.move_to(Place.SINGLE)
        elif where is Place.MATCH and isinstance(seat.get("match_host"), str):
            services.matches.adopt(session, seat["match_host"], str(seat.get("match_game")))

    # ------------------------------------------------------------------ the old process

    def _on_claim(self, msg: SeatClaim) -> None:
        old = self._kit.resume.take_hashed(msg.token_hash)
        seat = self._release(old, msg.claimant) if old is not None and old.hand_off() else {}
        self._services.control.try_send(msg.reply_to, SeatHanded(
            request=msg.request, ok=bool(seat), seat=seat))

    def _release(self, old: PlayerSession, claimant: str) -> JSONDict:
        """Let ``old``'s held seat go to ``claimant``, without a trace here; the seat."""
        services = self._services
        if old.place is Place.WATCHING:
            self._kit.leave_game(old)
        host, title = services.matches.hand_off(old, claimant) \
            if old.place is Place.MATCH else (None, "")
        where = old.place if old.place in KEPT and (host or old.place is not Place.MATCH) \
            else Place.LOBBY
        seat: dict[str, Any] = {
            "name": old.name, "account": old.account, "place": where.value, "room": old.room,
            "single": old.single.to_dict() if old.single is not None else None,
            "match_host": host, "match_game": title or old.match_title}
        services.channels.leave_all(old)
        services.registry.forget(old)
        log("AUTH", f"{old.name}'s seat handed to {escape(claimant)}: resumed there")
        return seat


def _typed(seat: JSONDict, key: str, kind: type) -> Any:
    value = seat[key]
    if not isinstance(value, kind):
        raise TypeError(f"seat field {key!r} is not a {kind.__name__}")
    return value
