"""Log files: ``[YYYY-mm-dd HH:MM:SS] [CATEGORY] text`` lines, rotated by size.

Categories: CONNECTION, AUTH, GAME, RECV, SEND, ERROR (and ADMIN).  Anything a peer chose (names,
chat, raw frames) goes through ``escape`` first, so a newline or control character can never
start a forged line.  RECV/SEND lines are written only at ``-v``; callers check ``wire_enabled``
before formatting them, so the hot path formats nothing that is not written.

A handler thread only queues its record (``QueueHandler``, no file lock, no system call);
one writer thread formats, writes and rotates (``QueueListener``), and ``flush`` waits for it.
"""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import queue
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


class _LogFile(logging.handlers.QueueHandler):
    """What ``setup`` installs on the logger (and replaces when called again): records go
    to the writer thread as they are, formatted there."""

    listener: logging.handlers.QueueListener

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record  # the same process reads it: no copy, no formatting here


def setup(path: Path, verbose: bool, max_bytes: int = 5_000_000,
          backups: int = 5) -> logging.Logger:
    """Log to ``path`` (rotating) and return the logger; ``verbose`` adds RECV/SEND lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
    for old in [h for h in logger.handlers if isinstance(h, _LogFile)]:  # ours, not others'
        logger.removeHandler(old)
        old.listener.stop()  # writes what was queued, then the thread ends
        for target in old.listener.handlers:
            target.close()
    writer = logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes,
                                                  backupCount=backups, encoding="utf-8")
    writer.setFormatter(_CategoryFormatter("[%(asctime)s] [%(category)s] %(message)s",
                                           datefmt="%Y-%m-%d %H:%M:%S"))
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    handler = _LogFile(records)
    handler.listener = logging.handlers.QueueListener(records, writer)
    handler.listener.start()
    logger.addHandler(handler)
    return logger


def _listeners() -> list[logging.handlers.QueueListener]:
    return [h.listener for h in logging.getLogger(LOGGER_NAME).handlers
            if isinstance(h, _LogFile)]


def flush() -> None:
    """Wait until every line queued so far is in the file."""
    for listener in _listeners():
        listener.stop()  # the writer takes what was queued, then ends...
        listener.start()  # ...and a new one takes over


@atexit.register
def _close() -> None:
    for listener in _listeners():
        listener.stop()


def log(category: str, text: str, level: int = logging.INFO) -> None:
    logging.getLogger(LOGGER_NAME).log(level, text, extra={"category": category})


def wire_enabled() -> bool:
    return logging.getLogger(LOGGER_NAME).isEnabledFor(logging.DEBUG)


def wire(category: str, peer: str, text: str) -> None:
    """A RECV/SEND line (only at -v)."""
    logging.getLogger(LOGGER_NAME).debug("%s %s", peer, escape(redact(text), 2000),
                                         extra={"category": category})
