"""The benchmark scenarios.  Each returns plain numbers (and time series for plots).

Every scenario starts its own server process(es) with the bench's settings, drives real TLS
clients with ``bench/goload`` (compiled: it costs the server little CPU, and says how much it
spent), samples the server's CPU and memory with psutil, and stops everything it started.
Each result carries the server's and the generator's CPU time per request.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench import goload
from bench.launch import PY, ROOT, ServerProcess
from guessnet.launch import certificates
from guessnet.net import tlsconf

Progress = Callable[[int], None]
# Around every load a scenario drives: given the server's pid, a context that measures it
# (``bench.switches`` counts its context switches); the default measures nothing more.
LoadWatch = Callable[[int], contextlib.AbstractContextManager[object]]
# Benchmarks measure capacity, not abuse handling: only the per-connection message rate and
# the per-address limit are lifted (every simulated player comes from 127.0.0.1); everything
# else is server.py's default, as players meet it.
BENCH_FLAGS = ("--max-rate", "1000000", "--max-per-peer", "100000")


def tree(pid: int) -> list[psutil.Process]:
    """A server process and its children (``--workers``: the supervisor and its workers;
    the private redis-server too, which serves them)."""
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def cpu_seconds(pid: int) -> float:
    """CPU time so far of a server process and its children."""
    total = 0.0
    for process in tree(pid):
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def rss_mib(pid: int) -> float:
    total = 0
    for process in tree(pid):
        try:
            total += process.memory_info().rss
        except psutil.Error:
            continue
    return total / 2**20


@dataclass
class Sampler:
    """CPU % and RSS (MiB) of a process and its children, every ``every`` seconds."""

    pid: int
    every: float = 0.5
    times: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._start = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        last, at = cpu_seconds(self.pid), time.monotonic()
        while not self._stop.wait(self.every):
            try:
                used, now = cpu_seconds(self.pid), time.monotonic()
                self.cpu.append(100 * (used - last) / max(now - at, 1e-9))
                last, at = used, now
                self.rss.append(rss_mib(self.pid))
                self.times.append(now - self._start)
            except psutil.Error:
                return

    def stop(self) -> dict[str, list[float]]:
        self._stop.set()
        self._thread.join(timeout=5)
        return {"t": self.times, "cpu": self.cpu, "rss": self.rss}

    def rss_now(self) -> float:
        return rss_mib(self.pid)


@dataclass
class Bench:
    """What every scenario needs: certificates, a scratch folder, a client TLS context, and
    what watches the server while the generator loads it (``LoadWatch``)."""

    work: Path
    certs: Path
    context: ssl.SSLContext
    watch: LoadWatch = field(default=lambda pid: contextlib.nullcontext())

    @classmethod
    def create(cls) -> Bench:
        work = Path(tempfile.mkdtemp(prefix="guessnet-bench-"))
        certs = work / "certs"
        certificates.ensure_certs(certs, ["127.0.0.1"])
        return cls(work, certs, tlsconf.client_context(certs / "ca.pem"))

    def server(self, name: str, *extra: str) -> ServerProcess:
        folder = self.work / f"{name}-{time.monotonic_ns()}"
        return ServerProcess(folder, self.certs, *BENCH_FLAGS, *extra).start()

    def cleanup(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)


def per_request_us(cpu_s: float, requests: float) -> float:
    return cpu_s * 1e6 / requests if requests else 0.0


def drive(bench: Bench, server: ServerProcess, scenario: str, timeout: float,
          **flags: Any) -> dict[str, Any]:
    """Run goload against ``server`` (inside ``bench.watch``); add the server's CPU seconds
    spent meanwhile."""
    with bench.watch(server.pid):
        before = cpu_seconds(server.pid)
        result = goload.run(scenario, server.port, bench.certs / "ca.pem", timeout, **flags)
        result["server_cpu_s"] = cpu_seconds(server.pid) - before
    return result


# --------------------------------------------------------------------------- human

def human(bench: Bench, players: int, room_size: int | None, seconds: float,
          progress: Progress, ramp: float = 10.0, extra: tuple[str, ...] = (),
          reference: bool = False, stay: bool = False,
          rules: tuple[str, ...] = ()) -> dict[str, Any]:
    """N players arriving over ``ramp`` seconds, then guessing about once a second (random
    pauses, halving the range on each hint) for ``seconds``: single mode or rooms; against
    the reference (``bench/refserver.py``, single mode) when ``reference``.  Players leave
    during the last seconds as their guessing ends, unless ``stay``: then all leave after
    the measured time.  ``rules`` (``ENDLESS``: a round ends every twenty guesses or so
    instead of three) go to either server."""
    server = RefProcess(bench.work, bench.certs, *rules).start() if reference else \
        bench.server("human", *extra, *rules)
    sampler = Sampler(server.pid)
    try:
        got = drive(bench, server, "human", ramp + seconds + 120, players=players,
                    room_size=room_size or 0, ramp=f"{ramp}s", duration=f"{seconds}s",
                    stay=stay)
    finally:
        series = sampler.stop()
        server.stop()
    progress(1)
    mode = "reference" if reference else f"rooms of {room_size}" if room_size else "single"
    return {"players": players, "mode": mode, "rules": "endless" if rules else "default",
            "p50_ms": got["p50_ms"], "p95_ms": got["p95_ms"], "p99_ms": got["p99_ms"],
            "max_ms": got["max_ms"], "count": got["count"], "rate_per_s": got["rate_per_s"],
            "p99_by_slice_ms": got["p99_by_slice_ms"], "slice_s": got["slice_s"],
            "admitted": got["admitted"], "errors": got["failed"] + got["dropped"],
            "dropped": got["dropped"], "failures": got.get("failures", {}),
            "admit_p99_ms": got["admit_p99_ms"],
            "admit_max_ms": got["admit_max_ms"],
            "server_cpu_per_guess_us": per_request_us(got["server_cpu_s"], got["guesses"]),
            "client_cpu_per_guess_us": per_request_us(got["client_cpu_s"], got["guesses"]),
            "cpu_max": max(series["cpu"], default=0.0),
            "rss_max_mib": max(series["rss"], default=0.0), "series": series}


# --------------------------------------------------------------------------- saturate

class RefProcess(ServerProcess):
    def __init__(self, folder: Path, certs: Path, *rules: str) -> None:
        super().__init__(folder, certs)
        self.args = [PY, "-m", "bench.refserver", "--certs", str(certs), *rules]


ENDLESS = ("--max", "1000000", "--tries", "1000000")  # rounds (almost) never end


def saturate(bench: Bench, clients_n: int, seconds: float, progress: Progress,
             rules: tuple[str, ...] = ()) -> dict[str, Any]:
    """C clients guessing as fast as answers come back, against server.py and the reference
    (same architecture and framing, the game's wire part), in the same run, with the game's
    default rules (a round ends every few guesses, as in play) or ``rules``."""
    out: dict[str, Any] = {"clients": clients_n, "rules": "endless" if rules else "default"}
    for label in ("guessnet", "reference"):
        server: ServerProcess = bench.server("sat", *rules) \
            if label == "guessnet" else RefProcess(bench.work, bench.certs, *rules).start()
        try:
            got = drive(bench, server, "saturate", seconds + 120, clients=clients_n,
                        duration=f"{seconds}s", reference=label == "reference")
        finally:
            server.stop()
        out[label] = {"per_s": got["rate_per_s"], "p50_ms": got["p50_ms"],
                      "p99_ms": got["p99_ms"], "errors": got["errors"],
                      "server_cpu_per_request_us": per_request_us(got["server_cpu_s"],
                                                                  got["answers"]),
                      "client_cpu_per_request_us": per_request_us(got["measured_cpu_s"],
                                                                  got["answers"])}
        progress(1)
    out["ratio"] = out["guessnet"]["per_s"] / max(out["reference"]["per_s"], 1e-9)
    out["redis_benchmark_get_per_s"] = redis_benchmark(bench, clients_n, seconds)
    if out["redis_benchmark_get_per_s"]:
        out["ratio_redis"] = out["guessnet"]["per_s"] / out["redis_benchmark_get_per_s"]
    return out


def redis_benchmark(bench: Bench, clients_n: int, seconds: float) -> float | None:
    """GET requests/s of ``redis-benchmark --tls`` at the same concurrency, if installed."""
    server_bin, tool = shutil.which("redis-server"), shutil.which("redis-benchmark")
    if not server_bin or not tool:
        return None
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    certs = bench.certs
    redis = subprocess.Popen(
        [server_bin, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", str(certs / "server.pem"), "--tls-key-file", str(certs / "server.key"),
         "--tls-ca-cert-file", str(certs / "ca.pem"), "--tls-auth-clients", "no",
         "--save", "", "--appendonly", "no"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert redis.stdout is not None
        for line in redis.stdout:
            if b"Ready to accept connections" in line:
                break
        result = subprocess.run(
            [tool, "--tls", "--cacert", str(certs / "ca.pem"), "-h", "127.0.0.1", "-p",
             str(port), "-t", "get", "-c", str(clients_n), "-n",
             str(max(20000, int(clients_n * seconds * 200))), "-q"],
            capture_output=True, text=True, timeout=120)
        for part in result.stdout.replace("\r", "\n").split("\n"):
            if part.startswith("GET:") and "requests per second" in part:
                return float(part.split()[1])
        return None
    except (subprocess.TimeoutExpired, OSError, ValueError):
        return None
    finally:
        redis.terminate()
        redis.wait(timeout=10)
        if redis.stdout:
            redis.stdout.close()


# --------------------------------------------------------------------------- fanout

def fanout(bench: Bench, members: int, rounds: int, progress: Progress,
           slow_reader: bool = False) -> dict[str, Any]:
    """A room of ``members``: from the winning guess to the last member's round end."""
    server = bench.server("fan")
    slow = None
    try:
        if slow_reader:  # a member that never reads must not change the figures
            slow = subprocess.Popen([PY, "-c", SLOW_READER, str(server.port),
                                     str(bench.certs / "ca.pem")], cwd=ROOT)
        got = drive(bench, server, "fanout", 600, members=members, rounds=rounds)
    finally:
        if slow is not None:
            slow.send_signal(signal.SIGTERM)
            slow.wait(timeout=10)
        server.stop()
    progress(rounds)
    return {"members": members, "rounds": rounds, "slow_reader": slow_reader,
            "e2e_p50_ms": got["last_p50_ms"], "e2e_p99_ms": got["last_p99_ms"],
            "e2e_max_ms": got["last_max_ms"], "client_cpu_s": got["client_cpu_s"],
            "server_cpu_s": got["server_cpu_s"]}


SLOW_READER = """
import socket, ssl, sys, time
sys.path.insert(0, '.')
import protocol
ctx = ssl.create_default_context(cafile=sys.argv[2])
sock = ctx.wrap_socket(socket.create_connection(('127.0.0.1', int(sys.argv[1]))),
                       server_hostname='127.0.0.1')
for msg in (protocol.Hello(version=1), protocol.SetName(name='slowpoke'),
            protocol.Play(mode='multi', room='fan')):
    sock.sendall(protocol.encode(msg))
time.sleep(3600)
"""


# --------------------------------------------------------------------------- connect

def connect(bench: Bench, seconds: float, holds: list[int], progress: Progress
            ) -> dict[str, Any]:
    """New TLS sessions per second with 16 connecting clients, alone and beside ``holds``
    held sessions (a handshake must not cost more when many are held); RSS per session."""
    out: dict[str, Any] = {"per_s": {}, "server_cpu_per_session_us": {},
                           "rss_per_connection_kib": {}}
    for held in [0, *holds]:
        server = bench.server("conn")
        try:
            before = rss_mib(server.pid)
            got = drive(bench, server, "connect", seconds + 300, workers=16,
                        duration=f"{seconds}s", hold=held)
            if held:
                grown = rss_mib(server.pid) - before
                out["rss_per_connection_kib"][str(held)] = grown * 1024 / held
        finally:
            server.stop()
        out["per_s"][str(held)] = got["rate_per_s"]
        out["server_cpu_per_session_us"][str(held)] = per_request_us(
            got["server_cpu_s"], got["sessions"] + held)
        progress(1)
    out["sessions_per_s"] = out["per_s"]["0"]
    return out


# --------------------------------------------------------------------------- burst

def burst(bench: Bench, players: int, window: float, progress: Progress,
          extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """``players`` arriving within ``window`` seconds: does everyone get in, and how soon?"""
    server = bench.server("burst", *extra)
    try:
        got = drive(bench, server, "human", window + 120, players=players,
                    ramp=f"{window}s", duration="2s")
    finally:
        server.stop()
    progress(1)
    return {"players": players, "window_s": window, "admitted": got["admitted"],
            "failed": got["failed"], "admit_p50_ms": got["admit_p50_ms"],
            "admit_p99_ms": got["admit_p99_ms"], "admit_max_ms": got["admit_max_ms"],
            "server_cpu_s": got["server_cpu_s"], "client_cpu_s": got["client_cpu_s"]}


# --------------------------------------------------------------------------- workers

def workers(bench: Bench, players: int, seconds: float, progress: Progress,
            ramp: float = 10.0, count: int = 2) -> dict[str, Any]:
    """``human`` against ``server.py --workers N`` (one game through a private Redis)."""
    row = human(bench, players, None, seconds, progress, ramp, ("--workers", str(count)))
    return {**row, "workers": count}
