"""Errors of the session layer, named by who is to blame.

A ``Refused`` is the client's: a request it may not make now.  It carries a stable ``code`` and
a message saying why and what to do instead; it is answered with an ``error`` and never ends the
session.  Storage failures are the backend's (``storage.base.BackendError``); anything else a
handler raises is a bug of ours, answered with the code ``internal``.
"""

from __future__ import annotations


class Refused(Exception):
    """A request the client may not make now; ``code`` is stable, the message says why.
    ``pause``: seconds the client must wait, during which nothing more is read from it."""

    def __init__(self, code: str, message: str, pause: float = 0.0) -> None:
        super().__init__(message)
        self.code = code
        self.pause = pause


class NameBusy(Exception):
    """A guest asked for a name someone (on any process) is using."""
