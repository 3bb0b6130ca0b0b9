"""Log files: ``[YYYY-mm-dd HH:MM:SS] [CATEGORY] text`` lines, rotated by size.

Categories: CONNECTION, AUTH, GAME, RECV, SEND, ERROR (and ADMIN).  Anything a peer chose (names,
chat, raw frames) goes through ``escape`` first, so a newline or control character can never
start a forged line.  RECV/SEND lines are written only at ``-v``; callers check ``wire_enabled``
before formatting them, so the hot path formats nothing that is not written.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
from pathlib import Path

LOGGER_NAME = "guessnet"
_SECRET_FIELDS = re.compile(
    r'"(password|old|new|token|resume_token)"\s*:\s*"(?:[^"\\]|\\.)*"')


def redact(frame_text: str) -> str:
    """A frame's JSON with its secrets (passwords, resume tokens) replaced, fit for a log."""
    return _SECRET_FIELDS.sub(lambda m: f'"{m.group(1)}":"***"', frame_text)


def escape(text: object, limit: int = 300) -> str:
    """Printable, single-line form of peer-supplied text (control characters as escapes)."""
    raw = str(text)
    if len(raw) > limit:
        raw = raw[:limit] + "..."
    if raw.isprintable():
        return raw
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii")
                   for ch in raw)


class _CategoryFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        record.category = getattr(record, "category", record.levelname)
        return super().format(record)


class _LogFile(logging.handlers.RotatingFileHandler):
    """The log file ``setup`` installs (and replaces when called again)."""


def setup(path: Path, verbose: bool, max_bytes: int = 5_000_000,
          backups: int = 5) -> logging.Logger:
    """Log to ``path`` (rotating) and return the logger; ``verbose`` adds RECV/SEND lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
    for old in [h for h in logger.handlers if isinstance(h, _LogFile)]:  # ours, not others'
        logger.removeHandler(old)
        old.close()
    handler = _LogFile(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
    handler.setFormatter(_CategoryFormatter("[%(asctime)s] [%(category)s] %(message)s",
                                            datefmt="%Y-%m-%d %H:%M:%S"))
    logger.addHandler(handler)
    return logger


def log(category: str, text: str, level: int = logging.INFO) -> None:
    logging.getLogger(LOGGER_NAME).log(level, text, extra={"category": category})


def wire_enabled() -> bool:
    return logging.getLogger(LOGGER_NAME).isEnabledFor(logging.DEBUG)


def wire(category: str, peer: str, text: str) -> None:
    """A RECV/SEND line (only at -v)."""
    logging.getLogger(LOGGER_NAME).debug("%s %s", peer, escape(redact(text), 2000),
                                         extra={"category": category})
