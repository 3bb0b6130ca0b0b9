"""Real redis-server and memcached processes on free loopback ports (tests and benchmarks)."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO


class MissingService(Exception):
    """The service's program is not installed."""


_handed_out: set[int] = set()  # ports free_port returned in this process
_handing = threading.Lock()


def free_port() -> int:
    """A loopback port free now, and not one this process was given before: callers take
    several in a row (a server's three ports), and the kernel may offer a port it just
    released again, which gave one server the same port twice."""
    with _handing:
        for _ in range(100):
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = int(sock.getsockname()[1])
            if port not in _handed_out:
                break
        _handed_out.add(port)
        return port


def need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        raise MissingService(f"{binary} is not installed (./test.sh installs it)")
    return path


def missing_tool(name: str, install: str) -> int:
    """Say that the measuring tool ``name`` is missing and how to get it (``install``, the
    command to run); return the exit status a bench command then ends with."""
    print(f"{name} is not installed: run '{install}' and try again", file=sys.stderr)
    return 2


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Until the service accepts connections (or died, or the deadline passed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"service exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            # connect() failing fast is the event we wait for; back off a little
            time.sleep(0.02)
    raise TimeoutError(f"nothing listening on port {port} after {timeout} s")


class Service:
    """One service process; ``kill``/``start`` keep the same port, for fault tests."""

    def __init__(self, command: list[str], port: int, ready_line: bytes | None = None) -> None:
        self.command, self.port, self.ready_line = command, port, ready_line
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Service:
        if self.ready_line is None:
            self.proc = subprocess.Popen(self.command, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
            wait_for_port(self.port, self.proc)
            return self
        self.proc = subprocess.Popen(self.command, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        assert self.proc.stdout is not None
        seen = []
        for line in self.proc.stdout:  # the service says when it is ready
            seen.append(line)
            if self.ready_line in line:
                break
        else:
            raise RuntimeError(f"service did not start: {b''.join(seen)[-500:]!r}")
        threading.Thread(target=self._drain, args=(self.proc.stdout,), daemon=True).start()
        return self

    @staticmethod
    def _drain(stream: IO[bytes]) -> None:
        """Keep reading the service's output (a restart makes a new stream; this one is
        closed when its process is gone)."""
        for _ in stream:
            pass
        stream.close()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def redis_service(folder: Path | None = None) -> Service:
    """redis-server on a free port; no disk persistence unless ``folder`` is given (AOF)."""
    port = free_port()
    command = [need("redis-server"), "--port", str(port), "--bind", "127.0.0.1",
               "--save", "", "--protected-mode", "no", "--daemonize", "no"]
    if folder is None:
        command += ["--appendonly", "no"]
    else:
        folder.mkdir(parents=True, exist_ok=True)
        command += ["--appendonly", "yes", "--appendfsync", "always", "--dir", str(folder)]
    return Service(command, port, ready_line=b"Ready to accept connections")


def memcached_service() -> Service:
    port = free_port()
    command = [need("memcached"), "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-m", "16"]
    if os.getuid() == 0:
        command += ["-u", pwd.getpwuid(0).pw_name]
    return Service(command, port)
