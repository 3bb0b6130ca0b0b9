"""The player sessions' kit: every feature's handlers in one table, built once per process.

This is the one module that imports every feature; the sessions and the features import
neither it nor each other in a circle.  ``player_kit`` refuses (at start-up) two features
answering the same message type.
"""

from __future__ import annotations

from guessnet.services.resume import ResumeTokens
from guessnet.sessions.features import accounts, chat, guessing, listings, matchplay, watching
from guessnet.sessions.player_session import PlayerKit
from guessnet.sessions.session import handler_table


def player_kit(resume_grace: float) -> PlayerKit:
    """What the player sessions of one server process share (``start``/``close`` its resume
    tokens' ticker with the services)."""
    return PlayerKit(
        handlers=handler_table(accounts.HANDLERS, guessing.HANDLERS, chat.HANDLERS,
                               listings.HANDLERS, matchplay.HANDLERS, watching.HANDLERS),
        resume=ResumeTokens(resume_grace), leave_game=guessing.leave_game,
        hold_seat=guessing.hold_seat)
