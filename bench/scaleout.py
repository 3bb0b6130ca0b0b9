"""Scenario 5: two server processes on one Redis and one memcached, against one process.

* Round end across processes: a room split between processes A and B; the winner plays on A;
  the time until the last member on B has the round end, against the same room on one process.
* Throughput: clients guessing as fast as answers come back in shared rooms, spread over both
  processes (every guess is a Redis transaction), against the same load on one process.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import protocol
from bench.loadgen import BotClient, Latencies, open_many, percentile
from bench.scenarios import Bench, Progress, summary
from bench.services import memcached_service, redis_service


async def _split_room(bench: Bench, ports: list[int], members: int, rounds: int,
                      progress: Progress) -> list[float]:
    """Round-end latency (s) to the last member on the last port, winner on the first."""
    groups = [await open_many(members // len(ports), port, bench.context) for port in ports]
    everyone = [c for group in groups for c in group]
    await asyncio.gather(*(c.join(f"x{i}", "multi", "split") for i, c in enumerate(everyone)))
    winner, far = groups[0][0], groups[-1]
    result = []
    for _ in range(rounds):
        for c in everyone:
            c.received_at.pop("round_ended", None)
        started = time.monotonic()
        winner.send(protocol.Guess(value=1))
        await asyncio.gather(*(c.expect(protocol.RoundEnded) for c in everyone))
        result.append(max(c.received_at["round_ended"] for c in far) - started)
        progress(1)
    await asyncio.gather(*(c.close() for c in everyone))
    return result


async def _throughput(bench: Bench, ports: list[int], clients_n: int, seconds: float) -> float:
    per_port = clients_n // len(ports)
    clients: list[BotClient] = []
    for port in ports:
        clients += await open_many(per_port, port, bench.context)
    await asyncio.gather(*(c.join(f"t{i}", "multi", f"room{i % 5}")
                           for i, c in enumerate(clients)))
    lat = Latencies()
    end = time.monotonic() + seconds

    async def hammer(client: BotClient, rng: random.Random) -> None:
        while time.monotonic() < end:
            started = time.monotonic()
            msg = await client.request(protocol.Guess(value=rng.randint(1, 999_999)),
                                       protocol.Hint)
            if isinstance(msg, protocol.Hint):
                lat.add(time.monotonic() - started)
            else:
                lat.errors += 1

    await asyncio.gather(*(hammer(c, random.Random(i)) for i, c in enumerate(clients)))
    await asyncio.gather(*(c.close() for c in clients))
    return len(lat.samples) / seconds


def scaleout(bench: Bench, members: int, rounds: int, clients_n: int, seconds: float,
             progress: Progress) -> dict[str, Any]:
    redis, memcached = redis_service().start(), memcached_service().start()
    shared = ("--redis", f"redis://127.0.0.1:{redis.port}/0",
              "--memcached", f"127.0.0.1:{memcached.port}")
    out: dict[str, Any] = {"members": members, "clients": clients_n}
    try:
        for label, flags, count in (("one process", (), 1), ("two processes", shared, 2)):
            servers = [bench.server(f"scale{i}", "--min", "1", "--max", "1", *flags)
                       for i in range(count)]
            try:
                ms = [v * 1000 for v in asyncio.run(_split_room(
                    bench, [s.port for s in servers], members, rounds, progress))]
            finally:
                for server in servers:
                    server.stop()
            servers = [bench.server(f"tput{i}", "--max", "1000000", "--tries", "1000000", *flags)
                       for i in range(count)]
            try:
                rate = asyncio.run(_throughput(bench, [s.port for s in servers], clients_n,
                                               seconds))
            finally:
                for server in servers:
                    server.stop()
            out[label] = {"round_end_p50_ms": percentile(ms, 50),
                          "round_end_p99_ms": percentile(ms, 99), "guesses_per_s": rate,
                          "round_end_ms": ms}
            progress(1)
    finally:
        redis.stop()
        memcached.stop()
    out["extra_p99_ms"] = out["two processes"]["round_end_p99_ms"] - \
        out["one process"]["round_end_p99_ms"]
    return out


__all__ = ["scaleout", "summary"]
