"""What players type, as the protocol allows it: names, passwords, chat text; and peer text
made safe to print.

The name rule (1-20 of ``A-Z a-z 0-9 _ -``), the reserved names (the server's own and the player
client's command words, in any letter case) and the password's minimum length are part of the
protocol's contract (docs/PROTOCOL.md): the server enforces them, and a client may check them
before it sends.  Pure: no I/O.
"""

from __future__ import annotations

import re
import unicodedata

NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,20}")
NAME_RULE = "1-20 letters, digits, '_' or '-'"
PASSWORD_MIN = 6


# Words the player client reads as commands, and names that would pass for the server's own:
# no guest or new account may take them (in any letter case).
COMMAND_WORDS = frozenset([
    "accept", "adduser", "decline", "exit", "help", "history", "invite", "leaders", "list",
    "login", "logout", "msg", "multi", "no", "passwd", "ping", "play", "quit", "register",
    "replay", "resign", "say", "single", "tictactoe", "ttt", "who", "yes"])
RESERVED_NAMES = frozenset(["server", "admin", "bot", "system"]) | COMMAND_WORDS


class NameInvalid(ValueError):
    """A player-chosen name breaks the name rule, or is reserved."""


def check_name(name: str, *, new: bool = True) -> str:
    """``name`` if it follows the name rule and, for a ``new`` guest or account name, is not
    reserved; else ``NameInvalid`` saying why."""
    if not NAME_RE.fullmatch(name):
        raise NameInvalid(f"{name[:40]!r} is not a valid name: use {NAME_RULE}")
    if new and name.casefold() in RESERVED_NAMES:
        what = "a command word" if name.casefold() in COMMAND_WORDS else "reserved"
        raise NameInvalid(f"{name!r} is {what}, not a name: choose another name")
    return name


def check_password(password: str) -> None:
    if len(password) < PASSWORD_MIN:
        raise ValueError(f"a password needs at least {PASSWORD_MIN} characters")


def clean_text(text: str) -> str:
    """Chat text without control characters, trimmed."""
    return "".join(ch for ch in text if unicodedata.category(ch)[0] != "C").strip()


def escape(text: object, limit: int = 300) -> str:
    """Printable, single-line form of peer-supplied text (control characters as escapes)."""
    raw = str(text)
    if len(raw) > limit:
        raw = raw[:limit] + "..."
    if raw.isprintable():
        return raw
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii")
                   for ch in raw)


_DURATION = re.compile(r"(\d+)([dhms])")
UNITS = {"d": 86_400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> int | None:
    """Seconds in ``1h10m``, ``30m``, ``2d``, ``90s`` or a plain ``90`` (seconds); None if it
    is none of these (or over a year)."""
    text = text.strip().lower()
    if text.isdigit() and len(text) <= 9:
        seconds = int(text)
    elif text and _DURATION.sub("", text) == "" and len(text) <= 20:
        seconds = sum(int(n) * UNITS[unit] for n, unit in _DURATION.findall(text))
    else:
        return None
    return seconds if seconds <= 366 * 86_400 else None
