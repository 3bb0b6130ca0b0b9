"""Lines from the user: prompt_toolkit on a terminal (messages print above the line being
typed), plain lines from a pipe (scripts see every answer before their next line)."""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any


class LineInput:
    """Lines from the user: prompt_toolkit on a terminal, plain lines from a pipe.

    ``read`` returns None at end of input, or when ``interrupt`` was called (connection lost).
    """

    def __init__(self, history_file: Path | None = None) -> None:
        self.interactive = sys.stdin.isatty() and sys.stdout.isatty()
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._session: Any = None
        if self.interactive:
            from prompt_toolkit import PromptSession
            from prompt_toolkit.history import FileHistory, InMemoryHistory
            history = FileHistory(str(history_file)) if history_file else InMemoryHistory()
            self._session = PromptSession(history=history)
        else:
            threading.Thread(target=self._pump_stdin, name="stdin", daemon=True).start()

    def _pump_stdin(self) -> None:
        for line in sys.stdin:
            self._lines.put(line.rstrip("\r\n"))
        self._lines.put(None)

    def printing(self) -> AbstractContextManager[object]:
        """Context in which other threads may print without breaking the prompt."""
        if self.interactive:
            from prompt_toolkit.patch_stdout import patch_stdout
            return patch_stdout(raw=True)
        return nullcontext()

    def read(self, prompt: Callable[[], str], hidden: bool = False) -> str | None:
        if self._session is not None:
            try:
                text: str | None = self._session.prompt(prompt, is_password=hidden)
            except (EOFError, KeyboardInterrupt):
                return None
            return text
        print(prompt(), end="", flush=True)
        line = self._lines.get()
        if line is not None:
            print("*" * len(line) if hidden else line)
        return line

    def refresh(self) -> None:
        """Redraw the prompt (its text changed because of a message from the server)."""
        if self._session is not None and self._session.app.is_running:
            self._session.app.invalidate()

    def interrupt(self) -> None:
        """Make a pending ``read`` return None (the connection is gone)."""
        if self._session is not None and self._session.app.is_running:
            self._session.app.loop.call_soon_threadsafe(self._session.app.exit)
        else:
            self._lines.put(None)
