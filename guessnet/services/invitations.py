"""Invitations to a match of any match game, between players of any processes.

An invitation lives ``INVITE_SECONDS``; it ends when answered, when it times out, or when either
side leaves, and both sides are told why.  An accepted one starts a match (``Matches``) on the
inviter's process.  Across processes the control messages are ``MatchInvite`` (to the invitee's
process), ``MatchAnswer`` (back to the inviter's) and ``MatchCancel`` (to the other side).
"""

from __future__ import annotations

import threading
import time

from guessnet import wire
from guessnet.games import catalog
from guessnet.games.matchgame import MatchGame
from guessnet.services.channels import Channels
from guessnet.services.control import Control, MatchAnswer, MatchCancel, MatchInvite
from guessnet.services.errors import Refused
from guessnet.services.matches import Matches, name_of
from guessnet.services.seats import Invitation, LocalSeat, RemoteSeat, Seat, Seats
from guessnet.services.ticker import Ticker
from guessnet.storage.base import Store
from guessnet.support.logs import escape

INVITE_SECONDS = 30


def second_person(message: str, invitee: str) -> str:
    """An invitation's end as its invitee reads it: "carol declined ..." is "You declined ..."
    for carol (every such message begins with the invitee's name and a verb in the past)."""
    if invitee and message.startswith(invitee + " "):
        return "You" + message[len(invitee):]
    return message


class Invitations:
    """Callers (the players' sessions) use the public methods; ``start`` begins expiring
    invitations (a thread), ``close`` stops it and waits for it."""

    def __init__(self, seats: Seats, channels: Channels, control: Control, store: Store,
                 matches: Matches) -> None:
        self._seats = seats
        self._channels = channels
        self._store = store
        self._matches = matches
        self._lock = threading.RLock()
        self._invites: dict[str, Invitation] = {}  # by invitee name key (either side)
        self._ticker = Ticker("invitations", 0.5, self._expire)
        control.on(MatchInvite, self._on_remote_invite)
        control.on(MatchAnswer, self._on_remote_answer)
        control.on(MatchCancel, self._on_remote_cancel)

    def start(self) -> None:
        self._ticker.start()

    def close(self) -> None:
        self._ticker.close()

    def rebind(self, old: LocalSeat, new: LocalSeat) -> None:
        """A resumed session takes over ``old``'s invitations."""
        with self._lock:
            for invitation in self._invites.values():
                if invitation.inviter is old:
                    invitation.inviter = new
                if invitation.invitee is old:
                    invitation.invitee = new

    def invite(self, inviter: LocalSeat, target: str, game: MatchGame) -> None:
        me = name_of(inviter)
        if target.casefold() == me.casefold():
            raise Refused("self_invite", "you cannot invite yourself: invite another player")
        invitee: Seat | None = self._seats.local(target)
        if invitee is None:
            owner = self._seats.locate(target)
            if owner is not None:
                invitee = self._seats.remote(target, owner)
        if invitee is None:
            exists = self._store.get_user(target) is not None
            raise Refused("not_online", f"{escape(target, 40)} is not online" if exists
                          else f"there is no player {escape(target, 40)!r}: 'who' lists "
                          "the players online")
        other = invitee.name or "?"
        with self._lock:
            if self._matches.busy(me):
                raise Refused("busy", "finish your match first ('resign' concedes)")
            if self._matches.busy(other):
                raise Refused("busy", f"{other} is in a match: try again later")
            if other.casefold() in self._invites:
                raise Refused("busy", f"{other} is answering another invitation")
            self._invites[other.casefold()] = Invitation(
                inviter, invitee, time.monotonic() + INVITE_SECONDS, game)
        if isinstance(invitee, RemoteSeat):
            self._seats.send(invitee.owner, MatchInvite(
                to=other, sender=me, sender_owner=self._seats.owner(inviter), game=game.name))
        else:
            invitee.send(wire.Invited(sender=me, seconds=INVITE_SECONDS, game=game.name))
        inviter.send(wire.InviteUpdate(
            other=other, outcome="sent", message=f"invitation to {game.title} sent to {other}; "
            f"waiting up to {INVITE_SECONDS} s"))
        self._channels.admin_event("invite", f"{me} invited {other} to {game.title}")


    def _on_remote_invite(self, msg: MatchInvite) -> None:
        """Another process's player invites one of ours."""
        invitee = self._seats.local(msg.to)
        inviter = self._seats.remote(msg.sender, msg.sender_owner)
        game = catalog.match_game(msg.game)
        if invitee is None or invitee.name is None:
            return
        if game is None:  # a process with a game this one does not offer
            self._answer_remote(inviter, invitee.name, False,
                                f"{invitee.name}'s server does not offer {msg.game}")
            return
        with self._lock:
            taken = self._matches.busy(invitee.name) or invitee.name.casefold() in self._invites
            if not taken:
                self._invites[invitee.name.casefold()] = Invitation(
                    inviter, invitee, time.monotonic() + INVITE_SECONDS, game)
        if taken:
            self._answer_remote(inviter, invitee.name, False, f"{invitee.name} is busy")
            return
        invitee.send(wire.Invited(sender=inviter.name, seconds=INVITE_SECONDS, game=game.name))


    def _answer_remote(self, inviter: RemoteSeat, invitee: str, accept: bool,
                       message: str, invitee_owner: str = "") -> None:
        self._seats.send(inviter.owner, MatchAnswer(inviter=inviter.name, invitee=invitee,
                                              invitee_owner=invitee_owner, accept=accept,
                                              message=message))


    def reply(self, invitee: LocalSeat, accept: bool) -> None:
        me = name_of(invitee)
        with self._lock:
            invitation = self._invites.pop(me.casefold(), None)
        if invitation is None:
            raise Refused("no_invite", "there is no invitation to answer")
        inviter = invitation.inviter
        outcome: wire.InviteOutcome = "accepted" if accept else "declined"
        game = invitation.game
        message = f"{me} accepted: {inviter.name} plays {game.marks[0]}" if accept else \
            f"{me} declined the invitation to {game.title}"
        if accept:
            invitee.to_lobby()
        if isinstance(inviter, RemoteSeat):  # the match will be hosted by the inviter's side
            self._answer_remote(inviter, me, accept, message, self._seats.owner(invitee))
            invitee.send(wire.InviteUpdate(other=inviter.name, outcome=outcome,
                                           message=second_person(message, me)))
            return
        self._tell_end(invitation, outcome, message)
        if accept:
            inviter.to_lobby()
            self._matches.start_match(game, inviter, invitee)


    def _on_remote_answer(self, msg: MatchAnswer) -> None:
        """The remote invitee answered one of our players' invitations."""
        key = msg.invitee.casefold()
        with self._lock:
            invitation = self._invites.get(key)
            if invitation is None or isinstance(invitation.inviter, RemoteSeat):
                return
            del self._invites[key]
        inviter = invitation.inviter
        inviter.send(wire.InviteUpdate(other=msg.invitee,
                                           outcome="accepted" if msg.accept else "declined",
                                           message=msg.message))
        if msg.accept and msg.invitee_owner:
            inviter.to_lobby()
            self._matches.start_match(invitation.game, inviter,
                                      self._seats.remote(msg.invitee, msg.invitee_owner))


    def _on_remote_cancel(self, msg: MatchCancel) -> None:
        with self._lock:
            invitation = self._invites.pop(msg.invitee.casefold(), None)
        if invitation is not None:
            self._tell_end(invitation, msg.outcome, msg.message)


    def _tell_end(self, invitation: Invitation, outcome: wire.InviteOutcome,
                  message: str) -> None:
        """Tell both sides; a side on another process is told by its own process."""
        for seat, other in ((invitation.inviter, invitation.invitee),
                            (invitation.invitee, invitation.inviter)):
            if isinstance(seat, RemoteSeat):
                self._seats.send(seat.owner, MatchCancel(invitee=invitation.invitee.name or "?",
                                                   outcome=outcome, message=message))
            else:
                told = message if seat is invitation.inviter else \
                    second_person(message, seat.name or "")
                seat.send(wire.InviteUpdate(other=other.name or "?", outcome=outcome,
                                            message=told))
        self._channels.admin_event("invite", message)


    def _expire(self) -> None:
        now = time.monotonic()
        with self._lock:
            expired = [k for k, inv in self._invites.items() if inv.expires <= now]
            gone = [self._invites.pop(k) for k in expired]
        for invitation in gone:
            self._tell_end(invitation, "timeout", f"{invitation.invitee.name} did not "
                           f"answer within {INVITE_SECONDS} s: invitation cancelled")


    def cancel_for(self, player: LocalSeat) -> None:
        """End every invitation ``player`` sent or was sent (they left or dropped)."""
        key = (player.name or "").casefold()
        with self._lock:
            mine = [k for k, inv in self._invites.items()
                    if k == key or inv.inviter is player]
            gone = [self._invites.pop(k) for k in mine]
        for invitation in gone:
            self._tell_end(invitation, "cancelled",
                           f"{player.name} left: invitation cancelled")
