"""Tic-tac-toe from the player's side: invitations, moves and resigning (``Matches`` decides)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import protocol
from guessnet.session import Handler

if TYPE_CHECKING:
    from guessnet.player import PlayerSession


def on_invite(session: PlayerSession, msg: protocol.Invite) -> None:
    session.need_name()
    session.services.invitations.invite(session, msg.to)


def on_invite_reply(session: PlayerSession, msg: protocol.InviteReply) -> None:
    session.need_name()
    session.services.invitations.reply(session, msg.accept)


def on_move(session: PlayerSession, msg: protocol.Move) -> None:
    session.need_name()
    session.services.matches.move(session, msg.cell)


def on_resign(session: PlayerSession, msg: protocol.Resign) -> None:
    session.need_name()
    session.services.matches.resign(session)


HANDLERS: dict[type[protocol.Message], Handler] = {
    protocol.Invite: on_invite, protocol.InviteReply: on_invite_reply, protocol.Move: on_move,
    protocol.Resign: on_resign,
}
