"""The log files' writer: records queued by any thread, written by one thread a batch at a time.

A handler thread only queues its record (no file lock, no system call, no thread woken); one
writer thread formats, writes and rotates ten times a second, a batch at a time, and ``flush``
waits for it.  ``guessnet.logs`` installs one writer per file (``server.log``, ``audit.log``).
"""

from __future__ import annotations

import collections
import functools
import logging
import logging.handlers
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path


@functools.lru_cache(maxsize=64)
def _second_text(second: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))


def clock_text(at: float) -> str:
    """``at`` (a ``time.time()``) as ``YYYY-mm-dd HH:MM:SS`` local time: the log's and the
    admin events' clock, formatted once a second however many lines and events share it."""
    return _second_text(int(at))


class CategoryFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("[%(asctime)s] [%(category)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        record.category = getattr(record, "category", record.levelname)
        return super().format(record)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return clock_text(record.created)


class RotatingFile(logging.handlers.RotatingFileHandler):
    """The log file, written a batch at a time: each record formatted once, one write and one
    flush per batch, the file's size kept here.  (The standard handler formats every record
    twice, asks the file system for the file's type and size, and flushes, for every line.)

    A write that fails (a full disk) costs that batch, with one line on standard error per
    failing spell; the file is reopened for the next batch."""

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        super().__init__(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
        self._size = self._current_size()
        self._failing = False

    def _current_size(self) -> int:
        try:
            return os.path.getsize(self.baseFilename)
        except OSError:
            return 0

    def write_batch(self, records: list[logging.LogRecord]) -> None:
        if self.stream is None:  # closed by a failed write: reopen, and count what it holds
            try:
                self.stream = self._open()
            except OSError as exc:
                self._failed(exc)
                return
            self._size = self._current_size()
        lines: list[str] = []
        size = self._size
        for record in records:
            try:
                line = self.format(record) + "\n"
            except Exception:  # a record that cannot be formatted: the standard report
                self.handleError(record)
                continue
            length = len(line) if line.isascii() else len(line.encode("utf-8"))
            if self.maxBytes and size and size + length > self.maxBytes:
                self._write("".join(lines))
                lines.clear()
                self._roll_over()
                size = 0
            lines.append(line)
            size += length
        self._write("".join(lines))
        self._size = size

    def _roll_over(self) -> None:
        try:
            self.doRollover()
        except OSError as exc:
            self._failed(exc)

    def _write(self, text: str) -> None:
        if not text or self.stream is None:  # None: a failed rollover left no file open
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except OSError as exc:
            self._failed(exc)
            return
        if self._failing:
            self._failing = False
            print(f"guessnet: writing {self.baseFilename} again", file=sys.stderr, flush=True)

    def _failed(self, exc: OSError) -> None:
        if not self._failing:
            self._failing = True
            print(f"guessnet: log lines lost, cannot write {self.baseFilename}: "
                  f"{exc.strerror or exc}", file=sys.stderr, flush=True)
        stream, self.stream = self.stream, None
        if stream is not None:
            try:
                stream.close()
            except OSError:
                pass


class Writer:
    """The thread that writes the log file: it wakes every ``PERIOD`` seconds (or when asked
    to ``flush``) and writes every record queued since, so no log line wakes a thread."""

    PERIOD = 0.1

    def __init__(self, target: RotatingFile, tick: Callable[[], None] | None = None) -> None:
        self.target = target
        self._tick = tick  # called once a period, before the batch (summaries of noise)
        self.records: collections.deque[logging.LogRecord] = collections.deque()
        self._due = threading.Event()
        self._done = threading.Condition()
        self._written = 0  # flush requests served
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            self._due.wait(self.PERIOD)
            self._due.clear()
            if self._tick is not None:
                self._tick()
            batch = []
            while self.records:
                batch.append(self.records.popleft())
            if batch:
                self.target.write_batch(batch)
            with self._done:
                self._written += 1
                self._done.notify_all()
                if self._stopped:
                    return

    def flush(self) -> None:
        """Return once every record queued before the call is written."""
        with self._done:
            asked = self._written
            for turn in (1, 2):  # the first turn may have begun before the call: wait for two
                self._due.set()
                target = asked + turn
                self._done.wait_for(lambda: self._written >= target or  # noqa: B023
                                    not self._thread.is_alive(), timeout=5)

    def stop(self) -> None:
        with self._done:
            self._stopped = True
        self.flush()
        self._thread.join(timeout=5)
        self.target.close()


class LogFile(logging.Handler):
    """What ``setup`` installs on the logger (and replaces when called again): a record is
    only queued here, in the caller's thread; ``Writer`` formats and writes it."""

    def __init__(self, writer: Writer, audit_only: bool = False) -> None:
        super().__init__()
        self.writer = writer
        self.audit_only = audit_only  # the audit log takes only records marked ``audit``

    def emit(self, record: logging.LogRecord) -> None:
        self.writer.records.append(record)  # a deque: thread-safe, no lock to take

    def handle(self, record: logging.LogRecord) -> bool:
        if self.audit_only and not getattr(record, "audit", False):
            return False
        self.emit(record)  # no handler lock either
        return True


