"""Who the player is: guest names, accounts, passwords, logout, and resuming a session."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TypeVar

from guessnet import wire
from guessnet.games.guess import GuessRoom
from guessnet.net.gate import address_key
from guessnet.services import passwords
from guessnet.services.channels import LOBBY, envelope
from guessnet.services.errors import NameBusy, Refused
from guessnet.services.hashing import UNKNOWN, Asker, HashingBusy
from guessnet.services.rounds import round_started
from guessnet.sessions.features import chat
from guessnet.sessions.features.guessing import leave_game
from guessnet.sessions.place import GAMES, Place
from guessnet.sessions.player_session import PlayerSession
from guessnet.sessions.session import Handler
from guessnet.storage.base import NameTaken, Transition
from guessnet.support.logs import audit, escape, log, noisy
from guessnet.wire import text

T = TypeVar("T")
DUMMY_HASH = passwords.hash_password("not a real password")
CHOOSE = "type a name, 'register NAME' or 'login NAME'"
MAX_PAUSE = 5.0  # seconds a throttled connection is not read (its own wait, at most this)


def hashed(job: Callable[[], T]) -> T:
    """Run a password hash on the bounded pool; a full pool is the client's ``throttled``."""
    try:
        return job()
    except HashingBusy as exc:
        raise Refused("throttled", str(exc), pause=1.0) from None


def take_name(session: PlayerSession, name: str, account: bool) -> None:
    """Become ``name``; an older session of the same account is told and closed."""
    services = session.services
    old_name = session.name
    renamed = old_name is not None and old_name.casefold() != name.casefold()
    if renamed and session.place in GAMES:
        raise Refused("in_game", "leave the game ('exit') before changing name")
    try:
        services.registry.claim_name(session, name, account)
    except NameBusy:
        raise Refused("name_taken", f"{name} is already playing: choose another name") \
            from None
    if renamed:
        services.registry.release_name(session)
    session.name, session.account = name, account
    if session.place is Place.ANONYMOUS:
        session.move_to(Place.LOBBY)
    services.channels.join(session, LOBBY)
    services.registry.publish_presence(session)
    session.send(wire.Identified(name=name, account=account,
                                     resume_token=session.kit.resume.issue(session)))
    if old_name is None:  # arriving in the lobby: what was said there lately
        chat.replay(session, LOBBY)


def on_name(session: PlayerSession, msg: wire.SetName) -> None:
    name = session.services.moderation.check_name(msg.name)
    if session.account:
        raise Refused("logged_in", f"you are logged in as {session.name}: 'logout' first")
    if session.name is not None and session.name.casefold() == name.casefold():
        session.send(wire.Identified(name=name, account=False))
        return
    if session.services.store.get_user(name) is not None:
        raise Refused("name_taken", f"{name} is a registered account: "
                      f"'login {name}' or choose another name")
    take_name(session, name, account=False)
    log("AUTH", f"{session.peer} playing as guest {name}")
    session.services.channels.admin_event("named", f"{session.peer} is now {name} (guest)",
                                          None, conn=session.conn_id, peer=session.peer,
                                          name=name)


def on_register(session: PlayerSession, msg: wire.Register) -> None:
    name = session.services.moderation.check_name(msg.name)
    try:
        text.check_password(msg.password)
    except ValueError as exc:
        raise Refused("bad_password", str(exc)) from None
    if session.account:
        raise Refused("logged_in", f"you are logged in as {session.name}: 'logout' first")
    services = session.services
    mine = session.name is not None and session.name.casefold() == name.casefold()
    if services.registry.name_online(name) and not mine:
        raise Refused("name_taken", f"{name} is already playing: choose another name")
    password_hash = hashed(lambda: services.hashing.hash(msg.password, Asker(name.casefold())))
    try:
        services.store.create_user(name, password_hash, time.time())
    except NameTaken:
        raise Refused("name_taken", f"the name {name} is taken (names ignore letter "
                      "case): choose another") from None
    audit("AUTH", f"{session.peer} registered {name}")
    take_name(session, name, account=True)
    services.channels.admin_event("login", f"{session.peer} registered and logged in as "
                                  f"{name}", None, conn=session.conn_id, peer=session.peer,
                                  name=name)


def on_login(session: PlayerSession, msg: wire.Login) -> None:
    # accounts made before a name was reserved, or before the word filter, still log in
    name = session.services.moderation.check_name(msg.name, new=False)
    services = session.services
    if session.account and session.name and session.name.casefold() == name.casefold():
        raise Refused("logged_in", f"you are already logged in as {session.name}")
    address = address_key(session.host)
    clean = services.logins.clean(address)  # before this attempt is charged
    wait = services.logins.attempt(name, address)  # charged before the hash is computed
    if wait > 0:
        services.metrics.login_throttled.inc()
        noisy(f"login throttled {address}", "AUTH",
              f"{session.peer} login as {name} throttled ({wait:.0f} s)", audit_event=True)
        raise Refused("throttled", f"too many failed logins: try again in {math.ceil(wait)} s",
                      pause=min(wait, MAX_PAUSE))
    try:
        user = services.store.get_user(name)
        stored = user.password_hash if user else DUMMY_HASH
        asker = Asker(user.name.casefold() if user else UNKNOWN, clean)
        ok = hashed(lambda: services.hashing.verify(msg.password, stored, asker)) and \
            user is not None
    except BaseException:
        services.logins.refund(name, address)  # never checked: not a failure
        raise
    if ok:
        services.logins.succeeded(name, address)
    if not ok or user is None:
        services.metrics.login_failures.inc()
        noisy(f"login failed {address}", "AUTH", f"{session.peer} login as {name} failed",
              audit_event=True)
        raise Refused("bad_login", "wrong name or password")
    audit("AUTH", f"{session.peer} logged in as {user.name}")
    take_name(session, user.name, account=True)
    services.channels.admin_event("login", f"{session.peer} logged in as {user.name}", None,
                                  conn=session.conn_id, peer=session.peer, name=user.name)


def on_passwd(session: PlayerSession, msg: wire.ChangePassword) -> None:
    """Change the password; with no ``new``, only check ``old`` (a client asks for the old
    password first).  A wrong old password counts as a failed login."""
    name = session.need_name()
    if not session.account:
        raise Refused("not_logged_in", "guests have no password: 'register NAME' makes "
                      "an account")
    if msg.new is not None:
        try:
            text.check_password(msg.new)
        except ValueError as exc:
            raise Refused("bad_password", str(exc)) from None
    services = session.services
    address = address_key(session.host)
    wait = services.logins.attempt(name, address)
    if wait > 0:
        raise Refused("throttled", f"too many wrong passwords: try again in {math.ceil(wait)} s",
                      pause=min(wait, MAX_PAUSE))
    try:
        user = services.store.get_user(name)
        ok = user is not None and hashed(
            lambda: services.hashing.verify(msg.old, user.password_hash, Asker(name.casefold())))
    except BaseException:
        services.logins.refund(name, address)
        raise
    if not ok:
        noisy(f"passwd failed {address}", "AUTH",
              f"{session.peer} passwd for {name} failed: wrong old password", audit_event=True)
        raise Refused("bad_login", "the old password is wrong")
    services.logins.succeeded(name, address)
    if msg.new is None:
        session.send(wire.Ok(message="the old password is right"))
        return
    new = msg.new
    services.store.set_password(name, hashed(lambda: services.hashing.hash(new,
                                                                       Asker(name.casefold()))))
    audit("AUTH", f"{session.peer} changed the password of {name}")
    session.send(wire.Ok(message="password changed"))


def on_logout(session: PlayerSession, msg: wire.Logout) -> None:
    name = session.need_name()
    services = session.services
    services.invitations.cancel_for(session)
    services.matches.player_left(session, "logged out")
    leave_game(session)
    services.channels.leave(session, LOBBY)
    services.registry.release_name(session)
    session.kit.resume.forget(session)
    session.name, session.account = None, False
    session.move_to(Place.ANONYMOUS)
    log("AUTH", f"{session.peer} logged out of {name}")
    session.send(wire.Ok(message=f"{name} logged out: {CHOOSE}"))


def on_resume(session: PlayerSession, msg: wire.Resume) -> None:
    if session.name is not None:
        raise Refused("logged_in", f"you are already playing as {session.name}")
    services = session.services
    old = session.kit.resume.take(msg.token)
    elsewhere = session.kit.seats_elsewhere
    if (old is None or old.abandoned) and elsewhere is not None and \
            elsewhere.claim(session, msg.token):
        resumed(session, "a seat held by another server process")
        return
    if old is None or old.abandoned:
        noisy(f"resume refused {session.peer.rsplit(':', 1)[0]}", "AUTH",
              f"{session.peer} resume refused: unknown, used or expired token")
        raise Refused("bad_token", "this session can no longer be resumed (the token is "
                      f"unknown, used or expired): {CHOOSE}")
    old.hand_over(session)
    services.registry.rebind(old, session)
    services.channels.rebind(old, session)
    services.matches.rebind(old, session)
    services.invitations.rebind(old, session)
    resumed(session, old.peer)


def resumed(session: PlayerSession, was: str) -> None:
    """The player is back in ``session``: told who and where they are (a new token)."""
    services = session.services
    name = session.need_name()
    session.send(wire.Identified(name=name, account=session.account,
                                 resume_token=session.kit.resume.issue(session)))
    send_state(session, name)
    services.registry.publish_presence(session)
    log("AUTH", f"{session.peer} resumed the session of {name} ({escape(was)})")
    services.channels.admin_event("resumed", f"{name} is back from {session.peer}", None,
                                  conn=session.conn_id, peer=session.peer, name=name)


def send_state(session: PlayerSession, name: str) -> None:
    """Tell a resumed player where they are: their round (with tries used) or board."""
    if session.place is Place.SINGLE and session.single is not None:
        session.send(round_started(session.single, name))
    elif session.place is Place.ROOM and session.room is not None:

        room, rooms = session.room, session.services.rooms
        now = rooms.clock()

        def rejoin(live: GuessRoom) -> Transition[wire.RoundStarted]:
            live.join(name)  # no-op unless the room forgot us (a restarted Redis)
            back = [envelope(wire.RoomUpdate(room=room, name=name, event="back"), skip=name)] \
                if live.back(name) and not rooms.unhold(live, name) else []
            return Transition(value=round_started(live, name, now), broadcasts=back)

        session.send(rooms.transact(room, rejoin))
    elif session.place is Place.MATCH:
        session.services.matches.show(session)


HANDLERS: dict[type[wire.Message], Handler] = {
    wire.SetName: on_name, wire.Register: on_register, wire.Login: on_login,
    wire.ChangePassword: on_passwd, wire.Logout: on_logout, wire.Resume: on_resume,
}
