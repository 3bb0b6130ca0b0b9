"""``python server.py`` as a subprocess on free ports, as users and scripts run it."""

from __future__ import annotations

import queue
import subprocess
import threading
import time
from pathlib import Path
from typing import IO

import bench.launch
import protocol
from bench.launch import LISTEN, PY
from bench.services import free_port
from tests.conftest import ROOT, Peer

__all__ = ["LISTEN", "PY", "OutputLines", "ServerProcess", "Typist"]


class ServerProcess(bench.launch.ServerProcess):
    """The bench's launcher, with test peers."""

    def peer(self, name: str | None = None) -> Peer:
        peer = Peer(self.port, self.certs / "ca.pem")
        if name:
            peer.join_as(name)
        return peer

    def admin(self) -> Peer:
        peer = Peer(self.admin_port, self.certs / "ca.pem", cert=self.certs / "admin.pem",
                    key=self.certs / "admin.key", accepted=protocol.SERVER_TO_ADMIN)
        peer.hello()
        return peer


PORT_TAKEN = "port already in use"  # server.py's words when it cannot bind a port


def serving_web(folder: Path, certs: Path, *extra: str, attempts: int = 5) -> ServerProcess:
    """``server.py`` (started) with its web page on a free port, ``web_port``: picked here, as
    ``--web-port 0`` turns the page off, and picked again if another process took it before
    the server bound it (any outgoing connection may be given a free port)."""
    for attempt in range(1, attempts + 1):
        try:
            return ServerProcess(folder, certs, *extra, "--web-port", str(free_port())).start()
        except RuntimeError as exc:
            if PORT_TAKEN not in str(exc) or attempt == attempts:
                raise
    raise AssertionError("attempts must be at least 1")


class OutputLines:
    """A helper process's output lines, read by a thread; ``wait_for`` the next with a prefix."""

    def __init__(self, stream: IO[str]) -> None:
        self._lines: queue.Queue[str] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        try:
            for line in stream:
                self._lines.put(line)
        except ValueError:  # the stream was closed under us: the process is gone anyway
            return

    def join(self, timeout: float = 5.0) -> None:
        """Wait for the reader to reach the end of the stream (the process ended)."""
        self._thread.join(timeout)

    def latest(self, prefix: str, timeout: float = 10) -> str:
        """The last line with ``prefix`` printed so far (waiting for one if none is)."""
        found = self.wait_for(prefix, timeout)
        while True:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                return found
            if line.startswith(prefix):
                found = line

    def containing(self, text: str, timeout: float = 10) -> str:
        """The next line with ``text`` in it (a prompt may come before it on the line)."""
        deadline = time.monotonic() + timeout
        while True:
            line = self._lines.get(timeout=max(0.01, deadline - time.monotonic()))
            if text in line:
                return line

    def wait_for(self, prefix: str, timeout: float = 10) -> str:
        deadline = time.monotonic() + timeout
        while True:
            line = self._lines.get(timeout=max(0.01, deadline - time.monotonic()))
            if line.startswith(prefix):
                return line


class Typist:
    """The real player client (``pclient.py``) in a subprocess, typed into line by line, its
    output read by a thread (``out``); ``close`` ends it however it stands."""

    def __init__(self, port: int, cafile: Path, log_dir: Path, *extra: str) -> None:
        self.proc = subprocess.Popen(
            [PY, str(ROOT / "pclient.py"), "--port", str(port), "--cafile", str(cafile),
             "--log-dir", str(log_dir), *extra],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            cwd=ROOT)
        assert self.proc.stdout is not None
        self.out = OutputLines(self.proc.stdout)

    def type(self, *lines: str) -> None:
        assert self.proc.stdin is not None
        for line in lines:
            self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def close(self) -> str:
        """End the client; what it wrote on standard error."""
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.out.join()  # before its stream is closed
        assert self.proc.stderr is not None
        errors = self.proc.stderr.read()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        return errors
