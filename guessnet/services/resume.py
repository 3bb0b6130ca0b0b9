"""Resume tokens and held seats: a dropped player comes back to the same name, room and tries.

Every named session gets a resume token (32 random bytes from ``secrets``, URL-safe).  The server
keeps only its SHA-256, so a leaked table resumes nobody.  A token is single use: ``take`` removes
it, and the resumed session is issued a fresh one.  While the session is connected its token does
not expire; when the connection drops, the seat (name, room, tries, match) is held for the grace
period and the token expires with it.  After the grace period the seat is released as if the
player had left.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from guessnet.services.ticker import Ticker


class Resumable(Protocol):
    token_hash: str | None

    def abandon(self, how: str) -> None:
        """Release the held seat for good (the grace period is over)."""


R = TypeVar("R", bound=Resumable)


@dataclass
class _Entry(Generic[R]):
    session: R
    expires: float | None  # None while connected


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


class ResumeTokens(Generic[R]):
    """Callers use ``issue``, ``take``, ``hold`` and ``forget``; ``start`` begins expiring held
    seats (a thread), ``close`` stops it and waits for it."""

    def __init__(self, grace: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.grace = grace
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry[R]] = {}
        # (expiry, token hash) of every hold, in the order held: the grace is the same for
        # all, so the first is due first, and a tick looks at the due ones only (not at
        # every connected player's token).  A hold whose entry was since taken, forgotten or
        # held again is stale: its entry is gone or its expiry no longer matches.
        self._held: deque[tuple[float, str]] = deque()
        self._ticker = Ticker("resume-tokens", 0.25, self._expire)

    def start(self) -> None:
        self._ticker.start()

    def close(self) -> None:
        self._ticker.close()

    def issue(self, session: R) -> str:
        """A new token for ``session`` (its previous one stops working)."""
        token = secrets.token_urlsafe(32)
        digest = token_hash(token)
        with self._lock:
            if session.token_hash is not None:
                self._entries.pop(session.token_hash, None)
            self._entries[digest] = _Entry(session, None)
            session.token_hash = digest
        return token

    def take(self, token: str) -> R | None:
        """The session ``token`` resumes, removing the token; None if unknown or expired."""
        return self.take_hashed(token_hash(token))

    def take_hashed(self, digest: str) -> R | None:
        """``take`` by the token's hash (another process asks for the seat it resumes)."""
        with self._lock:
            entry = self._entries.pop(digest, None)
        if entry is None or (entry.expires is not None and entry.expires <= self._clock()):
            return None
        entry.session.token_hash = None
        return entry.session

    def hold(self, session: R) -> bool:
        """Start the grace period of a dropped session; False if it has no token."""
        with self._lock:
            entry = self._entries.get(session.token_hash or "")
            if entry is None:
                return False
            entry.expires = expires = self._clock() + self.grace
            self._held.append((expires, session.token_hash or ""))
            return True

    def forget(self, session: R) -> None:
        with self._lock:
            if session.token_hash is not None:
                self._entries.pop(session.token_hash, None)
                session.token_hash = None

    def _expire(self) -> None:
        now, held, sessions = self._clock(), self._held, []
        if not held or held[0][0] > now:
            return
        with self._lock:
            while held and held[0][0] <= now:
                expires, digest = held.popleft()
                entry = self._entries.get(digest)
                if entry is not None and entry.expires == expires:
                    sessions.append(self._entries.pop(digest).session)
        for session in sessions:
            session.token_hash = None
            session.abandon(f"did not come back within {self.grace:g} s")
