"""What the game asks of Redis: commands and bytes per guess and per round end, measured.

    python -m bench.redis_cost --guesses 3000 [--out bench/results]

Starts a private ``redis-server`` and ``server.py --redis`` on it, then one player guesses one
guess at a time (halving the range, so a round ends every few guesses as in play), first alone
in a single-player game, then in a room with 49 idle members.  Redis's own ``INFO
commandstats`` and ``INFO stats`` before and after give the commands (by name) and the bytes
in and out; the background work of the same span (presence renewals, admin events, counters)
is included, as it would be in production.  ``redis-benchmark`` with the same command mix
then says what this Redis carries.  DEPLOY.md sizes a deployment from these figures.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import redis
from tabulate import tabulate

from bench.counts import Player
from bench.launch import ServerProcess
from bench.scenarios import BENCH_FLAGS
from bench.services import redis_service
from guessnet.launch import certificates

ROOT = Path(__file__).resolve().parent.parent


def drain(player: Player) -> None:
    """An idle member reads what the room sends it (a member that never read would be cut
    as a slow reader, and leave the room)."""
    try:
        while player.tls.recv(65536):
            pass
    except OSError:
        return


def snapshot(client: redis.Redis) -> tuple[dict[str, int], int, int]:
    stats = client.info("commandstats")
    calls = {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}
    net = client.info("stats")
    return calls, int(net["total_net_input_bytes"]), int(net["total_net_output_bytes"])


def measure(client: redis.Redis, run: Any, guesses: int) -> dict[str, Any]:
    calls0, in0, out0 = snapshot(client)
    run()
    calls1, in1, out1 = snapshot(client)
    used = {k: calls1[k] - calls0.get(k, 0) for k in calls1 if calls1[k] - calls0.get(k, 0)}
    used.pop("info", None)
    total = sum(used.values())
    return {"guesses": guesses, "commands": total,
            "commands_per_guess": round(total / guesses, 2),
            "bytes_in_per_guess": round((in1 - in0) / guesses),
            "bytes_out_per_guess": round((out1 - out0) / guesses),
            "by_command_per_guess": {k: round(v / guesses, 3) for k, v in
                                     sorted(used.items(), key=lambda kv: -kv[1])}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.redis_cost", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--guesses", type=int, default=3000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="guessnet-redis-cost-") as tmp:
        work = Path(tmp)
        certificates.ensure_certs(work / "certs", ["127.0.0.1"])
        ca = work / "certs" / "ca.pem"
        service = redis_service(work / "redis").start()
        url = f"redis://127.0.0.1:{service.port}/0"
        server = ServerProcess(work / "srv", work / "certs", "--redis", url, *BENCH_FLAGS).start()
        client = redis.Redis.from_url(url)
        result: dict[str, Any] = {}
        try:
            single = Player(server.port, ca)
            started = single.join("solo")
            result["single"] = measure(client, lambda: single.guesses(
                args.guesses, started), args.guesses)
            idle = []
            for i in range(49):
                member = Player(server.port, ca)
                member.join(f"m{i}")
                member.send({"type": "play", "mode": "multi", "room": "r"})
                threading.Thread(target=drain, args=(member,), daemon=True).start()
                idle.append(member)
            player = Player(server.port, ca)
            player.join("roomie")
            player.send({"type": "play", "mode": "multi", "room": "r"})
            in_room = player.expect("round_started")
            result["room_of_50"] = measure(client, lambda: player.guesses(
                args.guesses, in_room), args.guesses)
            base = ["redis-benchmark", "-p", str(service.port), "-q", "-n", "200000", "-c",
                    "50"]
            lines = []
            for extra in (["-t", "get,set,incr"], ["publish", "guessnet:room:r", "x" * 150]):
                bench = subprocess.run([*base, *extra], capture_output=True, text=True,
                                       timeout=300, check=False)
                # (text mode reads its progress lines' carriage returns as new lines: only
                # each test's result is kept)
                lines += [line.strip() for line in bench.stdout.splitlines()
                          if "requests per second" in line]
            result["redis_benchmark"] = lines
        finally:
            client.close()
            server.stop()
            service.stop()
    (args.out / "redis_cost.json").write_text(json.dumps(result, indent=1))
    print(tabulate([[mode, r["commands_per_guess"], r["bytes_in_per_guess"],
                     r["bytes_out_per_guess"], ", ".join(
                         f"{k} {v}" for k, v in list(r["by_command_per_guess"].items())[:8])]
                    for mode, r in result.items() if mode != "redis_benchmark"],
                   headers=["per guess", "commands", "bytes in", "bytes out", "top commands"],
                   tablefmt="github"))
    print("\n".join(result["redis_benchmark"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
