"""The five benchmark scenarios.  Each returns plain numbers (and time series for plots).

Every scenario starts its own server process(es) with the bench's settings, drives real TLS
clients from this process (asyncio), samples the server's CPU and memory with psutil, and stops
everything it started.
"""

from __future__ import annotations

import asyncio
import random
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

import protocol
from bench.launch import PY, ROOT, ServerProcess
from bench.loadgen import BotClient, Latencies, open_many, percentile
from guessnet import tlsconf

Progress = Callable[[int], None]
# Benchmarks measure capacity, not abuse handling: the per-connection message rate limit is
# lifted (everything else is the default configuration).
BENCH_FLAGS = ("--max-rate", "1000000", "--max-per-peer", "100000", "--max-connections", "100000")


@dataclass
class Sampler:
    """CPU % and RSS (MiB) of a process, every ``every`` seconds, in a thread."""

    pid: int
    every: float = 0.5
    times: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._process = psutil.Process(self.pid)
        self._stop = threading.Event()
        self._start = time.monotonic()
        self._process.cpu_percent(None)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.cpu.append(self._process.cpu_percent(None))
                self.rss.append(self._process.memory_info().rss / 2**20)
                self.times.append(time.monotonic() - self._start)
            except psutil.Error:
                return

    def stop(self) -> dict[str, list[float]]:
        self._stop.set()
        self._thread.join(timeout=5)
        return {"t": self.times, "cpu": self.cpu, "rss": self.rss}

    def rss_now(self) -> float:
        return float(self._process.memory_info().rss / 2**20)


@dataclass
class Bench:
    """What every scenario needs: certificates, a scratch folder, a client TLS context."""

    work: Path
    certs: Path
    context: ssl.SSLContext

    @classmethod
    def create(cls) -> Bench:
        work = Path(tempfile.mkdtemp(prefix="guessnet-bench-"))
        certs = work / "certs"
        tlsconf.ensure_certs(certs, ["127.0.0.1"])
        return cls(work, certs, tlsconf.client_context(certs / "ca.pem"))

    def server(self, name: str, *extra: str) -> ServerProcess:
        folder = self.work / f"{name}-{time.monotonic_ns()}"
        return ServerProcess(folder, self.certs, *BENCH_FLAGS, *extra).start()

    def cleanup(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)


def summary(lat: Latencies) -> dict[str, float]:
    ms = [s * 1000 for s in lat.samples]
    return {"count": len(ms), "errors": lat.errors, "p50_ms": percentile(ms, 50),
            "p95_ms": percentile(ms, 95), "p99_ms": percentile(ms, 99),
            "max_ms": max(ms) if ms else 0.0}


# --------------------------------------------------------------------------- human

async def _human(bench: Bench, port: int, players: int, room_size: int | None,
                 seconds: float, progress: Progress) -> Latencies:
    clients = await open_many(players, port, bench.context)
    lat = Latencies()

    async def join(i: int, client: BotClient) -> BotClient | None:
        try:
            await client.join(f"h{i}", "multi" if room_size else "single",
                              f"r{i // room_size}" if room_size else None)
            return client
        except (TimeoutError, ConnectionError, RuntimeError):
            await client.close()
            return None

    joined = await asyncio.gather(*(join(i, c) for i, c in enumerate(clients)))
    clients = [c for c in joined if c is not None]
    lat.errors = players - len(clients)  # players that could not connect or join
    end = time.monotonic() + seconds

    async def play(client: BotClient, rng: random.Random) -> None:
        await asyncio.sleep(rng.uniform(0, 1))
        while time.monotonic() < end:
            started = time.monotonic()
            client.send(protocol.Guess(value=rng.randint(1, 10)))
            try:
                await client.expect(protocol.Hint, protocol.Error, timeout=30)
            except (TimeoutError, ConnectionError):
                lat.errors += 1
                return
            lat.add(time.monotonic() - started)
            await asyncio.sleep(rng.expovariate(1.0))  # about one guess a second

    await asyncio.gather(*(play(c, random.Random(i)) for i, c in enumerate(clients)))
    await asyncio.gather(*(c.close() for c in clients))
    return lat


def human(bench: Bench, players: int, room_size: int | None, seconds: float,
          progress: Progress) -> dict[str, Any]:
    """N players guessing about once a second at random intervals (single mode or rooms)."""
    server = bench.server("human")
    sampler = Sampler(server.pid)
    try:
        lat = asyncio.run(_human(bench, server.port, players, room_size, seconds, progress))
    finally:
        series = sampler.stop()
        server.stop()
    progress(1)
    return {"players": players, "mode": f"rooms of {room_size}" if room_size else "single",
            **summary(lat), "rate_per_s": len(lat.samples) / seconds,
            "cpu_max": max(series["cpu"], default=0.0),
            "rss_max_mib": max(series["rss"], default=0.0), "series": series}


# --------------------------------------------------------------------------- saturate

async def _saturate(bench: Bench, port: int, clients_n: int, seconds: float,
                    reference: bool) -> Latencies:
    clients = await open_many(clients_n, port, bench.context)
    if reference:
        for c in clients:
            await c.request(protocol.Hello(version=protocol.PROTOCOL_VERSION), protocol.Welcome)
    else:
        await asyncio.gather(*(c.join(f"s{i}", "single") for i, c in enumerate(clients)))
    lat = Latencies()
    end = time.monotonic() + seconds

    async def hammer(client: BotClient, rng: random.Random) -> None:
        while time.monotonic() < end:
            started = time.monotonic()
            client.send(protocol.Guess(value=rng.randint(1, 10)))
            msg = await client.expect(protocol.Hint, protocol.Error, timeout=30)
            if not isinstance(msg, protocol.Error):
                lat.add(time.monotonic() - started)
            else:
                lat.errors += 1

    await asyncio.gather(*(hammer(c, random.Random(i)) for i, c in enumerate(clients)))
    await asyncio.gather(*(c.close() for c in clients))
    return lat


class RefProcess(ServerProcess):
    def __init__(self, folder: Path, certs: Path) -> None:
        super().__init__(folder, certs)
        self.args = [PY, "-m", "bench.refserver", "--certs", str(certs)]


def saturate(bench: Bench, clients_n: int, seconds: float, progress: Progress) -> dict[str, Any]:
    """C clients guessing as fast as answers come back, against server.py and the reference."""
    out: dict[str, Any] = {"clients": clients_n}
    for label in ("guessnet", "reference"):
        server: ServerProcess = bench.server("sat", "--max", "1000000", "--tries", "1000000") \
            if label == "guessnet" else RefProcess(bench.work, bench.certs).start()
        try:
            lat = asyncio.run(_saturate(bench, server.port, clients_n, seconds,
                                        label == "reference"))
        finally:
            server.stop()
        out[label] = {**summary(lat), "per_s": len(lat.samples) / seconds}
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

async def _fanout(bench: Bench, server: ServerProcess, members: int, rounds: int,
                  progress: Progress) -> tuple[list[float], list[float]]:
    clients = await open_many(members, server.port, bench.context)
    # Every join is announced to the members already there: N joins send N^2/2 frames, so a
    # 1,000-member room takes a while to fill (that is set-up, not what is measured).
    await asyncio.gather(*(c.join(f"f{i}", "multi", "fan", timeout=600)
                           for i, c in enumerate(clients)))
    admin = await admin_client(bench, server)
    end_to_end, server_side = [], []
    winner = clients[0]
    for _ in range(rounds):
        for c in clients:
            c.received_at.pop("round_ended", None)
        started = time.monotonic()
        winner.send(protocol.Guess(value=1))  # --min 1 --max 1: every guess wins
        await asyncio.gather(*(c.expect(protocol.RoundEnded) for c in clients))
        end_to_end.append(max(c.received_at["round_ended"] for c in clients) - started)
        stats = await admin.request(protocol.Stats(), protocol.Table)
        assert isinstance(stats, protocol.Table)
        row = dict((r[0], r[1]) for r in stats.rows).get("last broadcast")
        if isinstance(row, str) and " in " in row:
            server_side.append(float(row.rsplit(" in ", 1)[1].split()[0]) / 1000)
        progress(1)
    await admin.close()
    await asyncio.gather(*(c.close() for c in clients))
    return end_to_end, server_side


async def admin_client(bench: Bench, server: ServerProcess) -> BotClient:
    context = tlsconf.client_context(bench.certs / "ca.pem", bench.certs / "admin.pem",
                                     bench.certs / "admin.key")
    reader, writer = await asyncio.open_connection("127.0.0.1", server.admin_port, ssl=context,
                                                   server_hostname="127.0.0.1", limit=1 << 20)
    admin = BotClient(reader, writer, protocol.SERVER_TO_ADMIN)
    await admin.request(protocol.Hello(version=protocol.PROTOCOL_VERSION), protocol.Welcome)
    return admin


def fanout(bench: Bench, members: int, rounds: int, progress: Progress,
           slow_reader: bool = False) -> dict[str, Any]:
    """A room of ``members``: from the winning guess to the last member's round end."""
    server = bench.server("fan", "--min", "1", "--max", "1")
    slow = None
    try:
        if slow_reader:  # a member that never reads must not change the figures
            slow = subprocess.Popen([PY, "-c", SLOW_READER, str(server.port),
                                     str(bench.certs / "ca.pem")], cwd=ROOT)
        e2e, side = asyncio.run(_fanout(bench, server, members, rounds, progress))
    finally:
        if slow is not None:
            slow.send_signal(signal.SIGTERM)
            slow.wait(timeout=10)
        server.stop()
    ms, side_ms = [v * 1000 for v in e2e], [v * 1000 for v in side]
    return {"members": members, "rounds": rounds, "slow_reader": slow_reader,
            "e2e_p50_ms": percentile(ms, 50), "e2e_p99_ms": percentile(ms, 99),
            "server_p50_ms": percentile(side_ms, 50), "server_p99_ms": percentile(side_ms, 99),
            "e2e_ms": ms, "server_ms": side_ms}


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

async def _connect_rate(bench: Bench, port: int, seconds: float, workers: int) -> int:
    end = time.monotonic() + seconds
    done = 0

    async def worker() -> None:
        nonlocal done
        while time.monotonic() < end:
            client = await BotClient.open(port, bench.context)
            await client.request(protocol.Hello(version=protocol.PROTOCOL_VERSION),
                                 protocol.Welcome)
            await client.close()
            done += 1

    await asyncio.gather(*(worker() for _ in range(workers)))
    return done


async def _hold(bench: Bench, port: int, count: int, sampler: Sampler
                ) -> tuple[float, int]:
    """Open ``count`` sessions (TLS + hello), 64 at a time as players would trickle in, and
    hold them; RSS per held session, and how many could not be opened."""
    before = sampler.rss_now()
    clients = await open_many(count, port, bench.context, hello=True)
    await asyncio.sleep(1.0)  # let the server's threads settle before reading its RSS
    per_connection_kib = (sampler.rss_now() - before) * 1024 / max(1, len(clients))
    await asyncio.gather(*(c.close() for c in clients))
    return per_connection_kib, count - len(clients)


def connect(bench: Bench, seconds: float, holds: list[int], progress: Progress
            ) -> dict[str, Any]:
    """New TLS sessions per second with 16 connecting clients; RSS per idle connection."""
    server = bench.server("conn")
    sampler = Sampler(server.pid)
    try:
        made = asyncio.run(_connect_rate(bench, server.port, seconds, 16))
        held = {str(n): asyncio.run(_hold(bench, server.port, n, sampler)) for n in holds}
        progress(1)
    finally:
        series = sampler.stop()
        server.stop()
    return {"sessions_per_s": made / seconds,
            "rss_per_connection_kib": {n: kib for n, (kib, _) in held.items()},
            "hold_failures": {n: failed for n, (_, failed) in held.items()},
            "series": series}
