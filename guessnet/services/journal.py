"""The journal: finished games the store could not take, kept on local disk until it can.

One JSON object a line in ``journal.jsonl`` in the data folder, appended and fsynced before the
players are told their round ended.  ``replay`` writes the entries to the store in order and
empties the journal; every entry carries its game's ``key``, and the store stores a key once,
so an entry written twice (the process died between the store's commit and the journal's
truncation) is still one game.  A journal that cannot be written (a full disk) raises
``JournalError`` naming the cause.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from guessnet.storage.base import JSONDict

FILE_NAME = "journal.jsonl"


class JournalError(Exception):
    """The journal could not be written or read; the message names the file and the cause."""


class Journal:
    """Callers use ``append``, ``pending`` and ``replay``; one lock orders them."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / FILE_NAME
        self._lock = threading.Lock()
        self._count: int | None = None  # entries in the file, once read (this process writes)

    def append(self, entry: JSONDict) -> None:
        """Add ``entry`` durably (fsynced) or raise ``JournalError``."""
        line = json.dumps(entry, separators=(",", ":"), ensure_ascii=False) + "\n"
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    os.write(fd, line.encode("utf-8"))
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as exc:
                raise JournalError(f"journal {self.path.name}: {exc.strerror or exc}") from exc
            finally:
                self._count = None  # counted again when next asked

    def pending(self) -> int:
        """Entries waiting: read from the file once, then counted (asked at every game's
        end, so it costs no file system call)."""
        with self._lock:
            if self._count is None:
                self._count = len(self._read())
            return self._count

    def replay(self, write: Callable[[JSONDict], Any]) -> int:
        """Hand every entry to ``write`` in order, dropping each one written; stop at the
        first that raises (it stays, with those after it, and the exception propagates).
        Return how many were written."""
        with self._lock:
            entries = self._read()
            done = 0
            try:
                for entry in entries:
                    write(entry)
                    done += 1
            finally:
                if done:
                    self._count = None
                    self._rewrite(entries[done:])
            return done

    def _read(self) -> list[JSONDict]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise JournalError(f"journal {self.path.name}: {exc.strerror or exc}") from exc
        # a line cut by a crash mid-write was never acknowledged: it is skipped
        entries = []
        for line in text.splitlines():
            try:
                entries.append(json.loads(line))
            except ValueError:
                continue
        return entries

    def _rewrite(self, entries: list[JSONDict]) -> None:
        """Replace the journal with ``entries`` atomically (write, fsync, rename)."""
        try:
            if not entries:
                self.path.unlink(missing_ok=True)
                return
            fresh = self.path.with_suffix(".tmp")
            fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                for entry in entries:
                    os.write(fd, (json.dumps(entry, separators=(",", ":"),
                                             ensure_ascii=False) + "\n").encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(fresh, self.path)
        except OSError as exc:
            raise JournalError(f"journal {self.path.name}: {exc.strerror or exc}") from exc
