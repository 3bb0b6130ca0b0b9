"""Log files: ``[YYYY-mm-dd HH:MM:SS] [CATEGORY] text`` lines, rotated by size.

Two files.  ``server.log`` has every line, in the categories CONNECTION, AUTH, GAME, ADMIN,
ERROR and, at ``-v``, RECV/SEND.  ``audit.log``, rotated on its own (``AUDIT_BYTES`` x
``AUDIT_BACKUPS``), has only the security events callers mark with ``audit``: logins and
their failures and throttles, registrations and password changes, refused admin
certificates, admin connections and moderation.  Malformed traffic never writes there, so
it cannot push a failed login out of it.

Noise is summarised: a line that a peer can make the server write over and over (a protocol
error, a failed handshake) goes through ``noisy`` with a key naming its kind and address; the
first ``NOISE_BURST`` lines of a key in ``NOISE_WINDOW`` seconds are written, the rest only
counted, and one line says how many were left out when the window ends.

Anything a peer chose (names, chat, raw frames) goes through ``escape`` first, so a newline or
control character can never start a forged line, and frames through ``redact``
(``guessnet.redaction``).  RECV/SEND lines are written only at ``-v``; callers check
``wire_enabled`` before formatting them.  The logger records no caller, thread or process (the
line shows none of them), so a record costs its caller no stack walk; ``guessnet.logfile``
writes the files.
"""

from __future__ import annotations

import atexit
import logging
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from guessnet.support.logfile import CategoryFormatter, LogFile, RotatingFile, Writer, clock_text
from guessnet.wire.redaction import redact
from guessnet.wire.text import escape

__all__ = ["audit", "clock_text", "escape", "flush", "log", "noisy", "redact", "setup",
           "wire", "wire_enabled"]

LOGGER_NAME = "guessnet"
AUDIT_BYTES, AUDIT_BACKUPS = 5_000_000, 10
NOISE_BURST, NOISE_WINDOW, NOISE_KEYS = 5, 60.0, 20_000
CONNECTIONS_BURST = 60  # connection lines an address writes a window (a class behind NAT)


@dataclass
class _Window:
    category: str
    what: str      # what the summary line says was left out
    ends: float
    audit: bool = False
    written: int = 0
    left_out: int = 0


class _Noise:
    """The summaries of ``noisy`` lines (any thread; ``sweep`` from the writer thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[str, _Window] = {}

    def admit(self, key: str, category: str, text: str, now: float,
              audit_event: bool = False, burst: int = NOISE_BURST) -> bool:
        """Whether the line may be written now (else it is counted for the summary)."""
        with self._lock:
            window = self._windows.get(key)
            if window is not None and now >= window.ends:
                del self._windows[key]
                self._summarise(key, window)
                window = None
            if window is None and len(self._windows) >= NOISE_KEYS:
                key = "many addresses"  # a flood from everywhere: one summary for all
                window = self._windows.get(key)
            if window is None:
                window = self._windows[key] = _Window(category, text[:120],
                                                      now + NOISE_WINDOW, audit_event)
            if window.written < burst:
                window.written += 1
                return True
            window.left_out += 1
            return False

    def sweep(self, now: float) -> None:
        """Write the summary of every window that ended, and forget it."""
        with self._lock:
            ended = [(k, w) for k, w in self._windows.items() if now >= w.ends]
            for key, window in ended:
                del self._windows[key]
                self._summarise(key, window)

    @staticmethod
    def _summarise(key: str, window: _Window) -> None:
        if window.left_out:
            (audit if window.audit else log)(
                window.category, f"{window.left_out} more lines like this one left out "
                f"({escape(key)}, {NOISE_WINDOW:g} s): {window.what}")


_noise = _Noise()


def _install(logger: logging.Logger, path: Path, max_bytes: int, backups: int,
             audit_only: bool) -> None:
    target = RotatingFile(path, max_bytes, backups)
    target.setFormatter(CategoryFormatter())
    tick = None if audit_only else (lambda: _noise.sweep(time.monotonic()))
    logger.addHandler(LogFile(Writer(target, tick), audit_only))


def setup(path: Path, verbose: bool, max_bytes: int = 5_000_000, backups: int = 5,
          audit_bytes: int = AUDIT_BYTES) -> logging.Logger:
    """Log to ``path`` and to ``audit.log`` beside it (both rotating) and return the logger;
    ``verbose`` adds RECV/SEND lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
    for old in [h for h in logger.handlers if isinstance(h, LogFile)]:  # ours, not others'
        logger.removeHandler(old)
        old.writer.stop()  # writes what was queued, then the thread ends
    # The line shows no caller, thread or process: do not look them up for every record
    # (the logging HOWTO's "Optimization" settings).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    _install(logger, path, max_bytes, backups, audit_only=False)
    _install(logger, path.parent / "audit.log", audit_bytes, AUDIT_BACKUPS, audit_only=True)
    return logger


def _writers() -> list[Writer]:
    return [h.writer for h in logging.getLogger(LOGGER_NAME).handlers
            if isinstance(h, LogFile)]


def flush() -> None:
    """Wait until every line queued so far is in the files."""
    _noise.sweep(time.monotonic())
    for writer in _writers():
        writer.flush()


@atexit.register
def _close() -> None:
    _noise.sweep(math.inf)  # what was left out, said before the process ends
    for writer in _writers():
        writer.stop()


# The logger is one object for the process's life (``setup`` changes its handlers, never the
# logger): looked up once, not through the logging module's lock at every line.
_LOGGER = logging.getLogger(LOGGER_NAME)


class _Line(logging.LogRecord):
    """One line's record, made without ``LogRecord.__init__`` (which looks up the caller's
    file name and module, the clock three ways, and more): the line shows no caller, thread
    or process, so only what formatters and handlers read is set.  A line cost 29 calls
    through ``Logger.log``, 5 this way, and a round's end and every join log one."""

    def __init__(self, level: int, text: str, category: str, audit: bool) -> None:
        self.__dict__.update(_NO_CALLER)  # in the instance: formats read ``__dict__``
        self.name = LOGGER_NAME
        self.msg = text
        self.args = ()
        self.levelno = level
        self.levelname = _LEVEL_NAMES.get(level) or logging.getLevelName(level)
        self.created = time.time()
        self.exc_info = self.exc_text = self.stack_info = None
        self.category = category
        self.audit = audit


_NO_CALLER = {"pathname": "(unknown file)", "filename": "(unknown file)",
              "module": "(unknown file)", "lineno": 0, "funcName": "(unknown function)",
              "thread": None, "threadName": None, "processName": None, "process": None,
              "msecs": 0.0, "relativeCreated": 0.0}
_LEVEL_NAMES = {logging.DEBUG: "DEBUG", logging.INFO: "INFO", logging.WARNING: "WARNING",
                logging.ERROR: "ERROR", logging.CRITICAL: "CRITICAL"}


def _handle(record: _Line) -> None:
    """``Logger.handle``, for a logger ``setup`` made stop propagating: straight to each of its
    handlers, as ``callHandlers`` does for such a logger, in a third of its steps (a dropped
    player, a join and a round's end each write a line); otherwise the logging module's way."""
    logger = _LOGGER
    if logger.propagate or logger.filters or logger.disabled or not logger.handlers:
        logger.handle(record)
        return
    level = record.levelno
    for handler in logger.handlers:
        if level >= handler.level:
            handler.handle(record)


def log(category: str, text: str, level: int = logging.INFO) -> None:
    if _LOGGER.isEnabledFor(level):
        _handle(_Line(level, text, category, False))


def audit(category: str, text: str) -> None:
    """A security event: written to ``server.log`` and to ``audit.log``."""
    if _LOGGER.isEnabledFor(logging.INFO):
        _handle(_Line(logging.INFO, text, category, True))


def noisy(key: str, category: str, text: str, *, audit_event: bool = False,
          burst: int = NOISE_BURST) -> None:
    """A line a peer can make the server repeat: summarised per ``key`` (module docstring),
    ``burst`` lines a window; ``audit_event`` writes it (and its summary) to the audit log
    too."""
    if _noise.admit(key, category, text, time.monotonic(), audit_event, burst):
        (audit if audit_event else log)(category, text)


def wire_enabled() -> bool:
    return _LOGGER.isEnabledFor(logging.DEBUG)


def wire(category: str, peer: str, text: str) -> None:
    """A RECV/SEND line (only at -v)."""
    _LOGGER.debug("%s %s", peer, escape(redact(text), 2000), extra={"category": category})
