"""What one guess costs on the hot path, counted: guessnet beside the reference.

    python -m bench.counts --guesses 2000 --idle 1000 [--out bench/results]

A client guesses one guess at a time (send, wait for the hint; after a round's end, for the
next round), so each guess is one wake-up of its handler thread, as at human pace, while
``--idle`` other players are connected and silent.  For ``server.py`` and for the reference
(``bench/refserver.py``), each in its own process with the bench's settings (and no
heartbeat: the idle players' pings are not what a guess costs):

* **system calls per guess**: ``strace -f -c`` attached to the server only while the guesses
  are made (every thread).  Each blocking call releases the GIL and takes it back: under load,
  each is a chance for another thread to take over.
* **server CPU per join**: the server process's CPU while the ``--idle`` players join one
  after another (connect, TLS handshake, hello, name, play), per player.
* **Python function calls per guess** in the handler thread (Python and C functions, counted
  with ``threading.setprofile`` on a server started in this process).

Writes ``counts.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
from tabulate import tabulate

from bench.launch import ServerProcess
from bench.scenarios import BENCH_FLAGS, RefProcess
from bench.services import missing_tool
from guessnet.launch import certificates
from guessnet.net import tlsconf
from guessnet.wire.codec import HEADER, FrameDecoder

ROOT = Path(__file__).resolve().parent.parent


class Player:
    """A blocking TLS client speaking the wire protocol (JSON dicts)."""

    def __init__(self, port: int, ca: Path) -> None:
        raw = socket.create_connection(("127.0.0.1", port), timeout=30)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.tls = tlsconf.client_context(ca).wrap_socket(raw, server_hostname="127.0.0.1")
        self.decoder = FrameDecoder()

    def send(self, msg: dict[str, Any]) -> None:
        body = json.dumps(msg).encode()
        self.tls.sendall(HEADER.pack(len(body)) + body)

    def expect(self, kind: str) -> dict[str, Any]:
        while True:
            payload = self.decoder.next_payload()
            if payload is None:
                data = self.tls.recv(65536)
                if not data:
                    raise EOFError(f"closed before {kind}")
                self.decoder.receive_data(data)
                continue
            msg: dict[str, Any] = json.loads(payload)
            if msg.get("type") in (kind, "error"):
                return msg

    def join(self, name: str, room: str | None = None) -> dict[str, Any]:
        """Hello, name, and play: a single game, or the multiplayer ``room``."""
        play = {"type": "play", "mode": "single"} if room is None else \
            {"type": "play", "mode": "multi", "room": room}
        for msg, answer in (({"type": "hello", "version": 1}, "welcome"),
                            ({"type": "name", "name": name}, "identified"),
                            (play, "round_started")):
            self.send(msg)
            got = self.expect(answer)
        return got

    def guesses(self, count: int, started: dict[str, Any]) -> None:
        """``count`` guesses, halving the range on each hint, one at a time."""
        low, high = started["low"], started["high"]
        for _ in range(count):
            value = (low + high) // 2
            self.send({"type": "guess", "value": value})
            hint = self.expect("hint")
            if hint.get("result") == "high":
                high = value - 1
            elif hint.get("result") == "low":
                low = value + 1
            if hint.get("result") == "correct" or hint.get("tries_left") == 0 or low > high:
                nxt = self.expect("round_started")
                low, high = nxt["low"], nxt["high"]

    def close(self) -> None:
        self.tls.close()


def guessed_once(port: int, ca: Path, count: int) -> list[Player]:
    """``count`` single players joined one after another, each having guessed once (what
    ``bench.bytecodes drop`` and ``bench.departures`` then make leave at once)."""
    players = []
    for i in range(count):
        player = Player(port, ca)
        player.guesses(1, player.join(f"d{i}"))
        players.append(player)
    return players


def crowd(port: int, ca: Path, idle: int) -> list[Player]:
    players = []
    for i in range(idle):
        player = Player(port, ca)
        player.join(f"idle{i}")
        players.append(player)
    return players


HOT_PATH_ONLY = ("--heartbeat", "0")  # the idle players' pings are not a guess's cost

STRACE_LINE = re.compile(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$")


def syscalls(server: ServerProcess, ca: Path, guesses: int, idle: int, folder: Path
             ) -> dict[str, Any]:
    """System calls of the server (every thread) per guess, by name; and the server's CPU per
    player joining (connect, TLS handshake, hello, name, play), measured while the idle
    players join one after another."""
    assert server.proc is not None
    process = psutil.Process(server.proc.pid)
    before = sum(process.cpu_times()[:2])
    players = crowd(server.port, ca, idle)
    time.sleep(0.5)  # what a join leaves to other threads (its log lines, its admin event)
    join_ms = (sum(process.cpu_times()[:2]) - before) * 1000 / max(1, idle)
    player = Player(server.port, ca)
    started = player.join("counted")
    out = folder / f"strace-{server.port}.txt"
    tracer = subprocess.Popen(["strace", "-f", "-c", "-o", str(out), "-p",
                               str(server.proc.pid)], stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # strace attaches to every thread; nothing to wait on from outside
    player.guesses(guesses, started)
    tracer.send_signal(signal.SIGINT)
    tracer.wait(timeout=30)
    for other in [player, *players]:
        other.close()
    calls: dict[str, int] = {}
    for line in out.read_text().splitlines():
        found = STRACE_LINE.match(line)
        if found and found.group(2) != "total":
            calls[found.group(2)] = int(found.group(1))
    per_guess = {name: count / guesses for name, count in
                 sorted(calls.items(), key=lambda item: -item[1])}
    return {"per_guess": round(sum(per_guess.values()), 2), "join_cpu_ms": round(join_ms, 2),
            "by_call": {k: round(v, 2) for k, v in per_guess.items() if v >= 0.01}}


def function_calls(start: Callable[[], tuple[int, Callable[[], None]]], ca: Path,
                   guesses: int) -> float:
    """Python and C function calls per guess in the handler thread of a server started in
    this process by ``start`` (its port, and how to stop it)."""
    counts: collections.Counter[int] = collections.Counter()
    counting = threading.Event()

    def profile(frame: Any, event: str, arg: Any) -> None:
        if counting.is_set() and event in ("call", "c_call"):
            counts[threading.get_ident()] += 1

    threading.setprofile(profile)
    port, stop = start()
    try:
        player = Player(port, ca)
        started = player.join("counted")
        me = threading.get_ident()
        counting.set()
        player.guesses(guesses, started)
        counting.clear()
        player.close()
    finally:
        threading.setprofile(None)
        stop()
    counts.pop(me, None)  # the client's own calls
    return round(max(counts.values(), default=0) / guesses, 1)


def in_process_guessnet(certs: Path, folder: Path, *rules: str
                        ) -> tuple[int, Callable[[], None]]:
    from guessnet.launch import options, startup
    from guessnet.support import logs
    logs.setup(folder / "logs" / "server.log", verbose=False)  # as server.py: lines cost
    args = options.parse_args(["--port", "0", "--admin-port", "0", "--web-port", "0",
                               "--certs", str(certs), "--data-dir", str(folder / "data"),
                               "--log-dir", str(folder / "logs"), *HOT_PATH_ONLY,
                               *BENCH_FLAGS, *rules])
    runtime = startup.start(args, options.open_backends(args))
    return runtime.player_port, lambda: startup.stop(runtime, grace=1.0)


def in_process_reference(certs: Path) -> tuple[int, Callable[[], None]]:
    from bench.refserver import RefHandler, RefServer
    server = RefServer(("127.0.0.1", 0), RefHandler)
    server.context = tlsconf.server_context(tlsconf.CertPaths(certs), False)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
    return server.server_address[1], stop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.counts", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--guesses", type=int, default=2000)
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    if shutil.which("strace") is None:
        return missing_tool("strace", "apt-get install strace")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="guessnet-counts-") as tmp:
        work = Path(tmp)
        certs = work / "certs"
        certificates.ensure_certs(certs, ["127.0.0.1"])
        ca = certs / "ca.pem"
        result: dict[str, Any] = {"guesses": args.guesses, "idle": args.idle}
        for label in ("guessnet", "reference"):
            server = ServerProcess(work / label, certs, *BENCH_FLAGS, *HOT_PATH_ONLY).start() \
                if label == "guessnet" else RefProcess(work / label, certs).start()
            try:
                result[label] = syscalls(server, ca, args.guesses, args.idle, work)
            finally:
                server.stop()
        result["guessnet"]["function_calls"] = function_calls(
            lambda: in_process_guessnet(certs, work / "inproc"), ca, args.guesses)
        result["reference"]["function_calls"] = function_calls(
            lambda: in_process_reference(certs), ca, args.guesses)
    (args.out / "counts.json").write_text(json.dumps(result, indent=1))
    names = list(dict.fromkeys([*result["guessnet"]["by_call"],
                                *result["reference"]["by_call"]]))
    print(tabulate([["system calls", result["guessnet"]["per_guess"],
                     result["reference"]["per_guess"]],
                    ["Python function calls", result["guessnet"]["function_calls"],
                     result["reference"]["function_calls"]],
                    ["server CPU ms a join (while the idle players join)",
                     result["guessnet"]["join_cpu_ms"], result["reference"]["join_cpu_ms"]],
                    *[[f"  {n}", result["guessnet"]["by_call"].get(n, 0),
                       result["reference"]["by_call"].get(n, 0)] for n in names]],
                   headers=[f"per guess ({args.idle} idle players)", "guessnet", "reference"],
                   tablefmt="github"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
