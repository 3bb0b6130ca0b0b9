"""Tic-tac-toe from the player's side: invitations, moves and resigning (``Matches`` decides)."""

from __future__ import annotations

from guessnet import wire
from guessnet.sessions.player_session import PlayerSession
from guessnet.sessions.session import Handler


def on_invite(session: PlayerSession, msg: wire.Invite) -> None:
    session.need_name()
    session.services.invitations.invite(session, msg.to)


def on_invite_reply(session: PlayerSession, msg: wire.InviteReply) -> None:
    session.need_name()
    session.services.invitations.reply(session, msg.accept)


def on_move(session: PlayerSession, msg: wire.Move) -> None:
    session.need_name()
    session.services.matches.move(session, msg.cell)


def on_resign(session: PlayerSession, msg: wire.Resign) -> None:
    session.need_name()
    session.services.matches.resign(session)


HANDLERS: dict[type[wire.Message], Handler] = {
    wire.Invite: on_invite, wire.InviteReply: on_invite_reply, wire.Move: on_move,
    wire.Resign: on_resign,
}
