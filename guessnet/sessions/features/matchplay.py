"""Match games from the player's side: entering a game, invitations, moves, resigning.

``play`` is the one handler of the ``play`` message: a guessing mode goes to the guessing
feature, a match game (any in ``games.catalog``) starts a match against the server.  What a
move means is the game's business (``services.matches`` asks its rules).
"""

from __future__ import annotations

from guessnet import wire
from guessnet.games import catalog
from guessnet.games.matchgame import MatchGame
from guessnet.services.errors import Refused
from guessnet.sessions.features import guessing
from guessnet.sessions.place import Place
from guessnet.sessions.player_session import PlayerSession
from guessnet.sessions.session import Handler
from guessnet.wire.text import escape


def game_named(name: str) -> MatchGame:
    """The match game called ``name``, or ``Refused`` naming the games there are."""
    game = catalog.match_game(name)
    if game is None:
        raise Refused("bad_game", f"there is no game {escape(name, 16)!r}: play one of "
                      f"{', '.join(catalog.MATCH_GAMES)}")
    return game


def on_play(session: PlayerSession, msg: wire.Play) -> None:
    session.need_name()
    if session.place is Place.MATCH:
        raise Refused("busy", "finish your match first ('resign' concedes)")
    if msg.mode in catalog.GUESSING_MODES:
        guessing.enter(session, msg.mode, msg.room)
        return
    if catalog.match_game(msg.mode) is None:
        modes = (*catalog.GUESSING_MODES, *catalog.MATCH_GAMES)
        raise Refused("bad_mode", f"there is no game called {escape(msg.mode, 16)!r}: play "
                      f"{', '.join(repr(m) for m in modes)}")
    session.services.matches.play_bot(session, game_named(msg.mode))


def on_invite(session: PlayerSession, msg: wire.Invite) -> None:
    session.need_name()
    session.services.invitations.invite(session, msg.to, game_named(msg.game))


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
    wire.Play: on_play, wire.Invite: on_invite, wire.InviteReply: on_invite_reply,
    wire.Move: on_move, wire.Resign: on_resign,
}
