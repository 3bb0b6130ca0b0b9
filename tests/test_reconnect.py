"""pclient.py comes back by itself: after a cut connection (resume) and a server restart."""

from __future__ import annotations

import queue
import select
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import protocol
from guessnet.client.connection import retry_delay
from tests.conftest import ROOT
from tests.procs import PY, ServerProcess
from tests.services import free_port


class CuttableProxy:
    """A TCP relay between client and server whose connections the test can cut at will."""

    def __init__(self, target_port: int) -> None:
        self.target = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self.pairs.append((client, upstream))
            threading.Thread(target=self._relay, args=(client, upstream), daemon=True).start()

    @staticmethod
    def _relay(a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                ready, _, _ = select.select([a, b], [], [], 30)
                if not ready:
                    return
                for src in ready:
                    data = src.recv(65536)
                    if not data:
                        return
                    (b if src is a else a).sendall(data)
        except OSError:
            return
        finally:
            for sock in (a, b):
                sock.close()

    def cut(self) -> None:
        """Every relayed connection dies at once, as when Wi-Fi drops.

        Only shut down here: the relay thread, woken by the end of stream, closes the
        sockets. Closing them from this thread too raced its ``select``, which then met a
        closed socket (fd -1) and died with ValueError."""
        with self._lock:
            pairs, self.pairs = self.pairs, []
        for pair in pairs:
            for sock in pair:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.cut()
        self.listener.close()


class Client:
    """pclient.py (or ``script`` with ``args``) as a subprocess whose standard input stays
    open."""

    def __init__(self, port: int, certs: Path, logs: Path, script: str = "pclient.py",
                 args: tuple[str, ...] | None = None) -> None:
        if args is None:
            args = ("--log-dir", str(logs))
        self.proc = subprocess.Popen(
            [PY, str(ROOT / script), "--port", str(port), "--cafile", str(certs / "ca.pem"),
             *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            cwd=ROOT)
        self.seen: list[str] = []
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put("")

    def type(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def wait_for(self, text: str | tuple[str, ...], timeout: float = 20.0,
                 seen_after: int | None = None) -> str:
        """Read output until a line contains ``text`` (or one of several), within ``timeout``
        seconds; with ``seen_after``, a line already read after that index counts (messages
        from the server and the client's own notes may print in either order)."""
        texts = (text,) if isinstance(text, str) else text
        if seen_after is not None:
            for line in self.seen[seen_after:]:
                if any(t in line for t in texts):
                    return line
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {text!r} within {timeout} s: "
                                     f"{''.join(self.seen)[-2000:]}") from None
            assert line, f"client exited before {text!r}: {''.join(self.seen)[-2000:]}"
            self.seen.append(line)
            if any(t in line for t in texts):
                return line

    def finish(self) -> int:
        self.type("/q")
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        code = self.proc.wait(timeout=10)
        self.proc.stdout.close()
        return code


@pytest.fixture
def proxy_server(tmp_path: Path, certs: Path) -> Iterator[tuple[ServerProcess, CuttableProxy]]:
    server = ServerProcess(tmp_path / "srv", certs).start()
    proxy = CuttableProxy(server.port)
    yield server, proxy
    proxy.close()
    server.stop()


@pytest.mark.timeout(60)
def test_dropped_connection_resumes_with_tries(
        proxy_server: tuple[ServerProcess, CuttableProxy], tmp_path: Path, certs: Path) -> None:
    _, proxy = proxy_server
    client = Client(proxy.port, certs, tmp_path / "clog")
    client.type("alice")
    client.type("2")
    client.wait_for("Rule Information in room main")
    client.type("11")  # out of range: no try used, but an answer to wait for
    client.wait_for("outside the range")
    for value in "12345":  # one try used in a round that goes on (1 may be the secret)
        client.type(value)
        if "Hint" in client.wait_for(("Hint", "Correct!")):
            break
        client.wait_for(" in room main: guess 1 ~ 10")  # won by chance: the next round
    proxy.cut()
    mark = len(client.seen)
    client.wait_for("Back: you are where you were.")
    client.wait_for("Connection lost: reconnecting", seen_after=mark)
    client.wait_for("you have already used 1 of your 5 tries", seen_after=mark)
    assert not any("Error" in line for line in client.seen[mark:]), client.seen[mark:]
    assert client.finish() == 0


@pytest.mark.timeout(120)
def test_one_session_dropped_five_times_resumes_every_time(
        proxy_server: tuple[ServerProcess, CuttableProxy], tmp_path: Path, certs: Path) -> None:
    """Each ``identified`` brings a new resume token: the client must use the newest."""
    server, proxy = proxy_server
    client = Client(proxy.port, certs, tmp_path / "clog")
    client.type("alice")
    client.type("2")
    client.wait_for("Rule Information in room main")
    bob = server.peer("bob")  # keeps the round going whatever alice's guess
    try:
        bob.request(protocol.Play(mode="multi"), protocol.RoundStarted)
        for value in "12345":  # one try used in a round that goes on
            client.type(value)
            if "Hint" in client.wait_for(("Hint", "Correct!")):
                break
            client.wait_for(" in room main: guess 1 ~ 10")  # won by chance: the next round
        for drop in range(5):
            proxy.cut()
            mark = len(client.seen)
            client.wait_for("Back: you are where you were.")
            client.wait_for("you have already used 1 of your 5 tries", seen_after=mark)
            client.wait_for("in room main", seen_after=mark)
            assert not any("restarted" in line or "Error" in line
                           for line in client.seen[mark:]), (drop, client.seen[mark:])
        client.type("exit")
        client.type("play tictactoe")
        client.wait_for("Your move (X)")
        for _ in range(2):
            proxy.cut()
            mark = len(client.seen)
            client.wait_for("Back: you are where you were.")
            client.wait_for("Your move (X)", seen_after=mark)  # the same match, its board again
            assert not any("restarted" in line for line in client.seen[mark:]), client.seen[mark:]
        assert client.finish() == 0
    finally:
        bob.close()


@pytest.mark.timeout(90)
def test_server_killed_and_restarted(tmp_path: Path, certs: Path) -> None:
    port = free_port()
    first = ServerProcess(tmp_path / "srv", certs, "--port", str(port)).start()
    client = Client(port, certs, tmp_path / "clog")
    client.type("alice")
    client.type("2")
    client.wait_for("Rule Information in room main")
    first.stop(signal.SIGKILL)
    client.wait_for("Connection lost: reconnecting")
    client.type("5")  # typed while the server is down: held until the session is back
    client.wait_for("this line is sent when you are back")
    mark = len(client.seen)
    second = ServerProcess(tmp_path / "srv", certs, "--port", str(port)).start()
    try:
        client.wait_for("The server restarted: logging you back in")
        client.wait_for("Back as alice in room main")
        client.wait_for(("Hint:", "Correct!"))  # the held guess, played in the room
        after = client.seen[mark:]
        assert not any("Error" in line or "Traceback" in line for line in after), after
        assert "Round 1 in room main" in "".join(after)  # the rules, in one line
        assert client.finish() == 0
    finally:
        second.stop()


@pytest.mark.timeout(90)
def test_aclient_comes_back_after_a_restart(tmp_path: Path, certs: Path) -> None:
    port, admin_port = free_port(), free_port()
    ports = ("--port", str(port), "--admin-port", str(admin_port))
    first = ServerProcess(tmp_path / "srv", certs, *ports).start()
    admin = Client(admin_port, certs, tmp_path, "aclient.py",
                   ("--cert", str(certs / "admin.pem"), "--key", str(certs / "admin.key")))
    admin.wait_for("Connected to the admin port")
    first.stop(signal.SIGKILL)
    admin.wait_for("Connection lost: reconnecting")
    admin.type("stats")  # typed while the server is down: held, then sent (as pclient does)
    admin.wait_for("this line is sent when you are back")
    second = ServerProcess(tmp_path / "srv", certs, *ports).start()
    try:
        back = time.monotonic()
        admin.wait_for("Back: connected to the admin port")
        assert time.monotonic() - back < 5.0
        admin.wait_for("stats of the whole game")
        peer = second.peer("ann")
        admin.wait_for("ann")  # the event feed is back
        admin.type("list")
        admin.wait_for("1 player socket")
        peer.close()
        assert admin.finish() == 0
    finally:
        second.stop()


def test_retry_delay_stays_short_however_long_the_outage() -> None:
    delays = [retry_delay(n, n * 3.0) for n in range(40)]
    assert delays[:3] == [0.5, 1.0, 2.0] and max(delays) <= 3.0  # the first two minutes
    assert retry_delay(9, 121.0) == 5.0 and retry_delay(3, 121.0) == 4.0  # then every 5 s
