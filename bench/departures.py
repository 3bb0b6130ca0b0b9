"""What players leaving all at once cost the server: guessnet beside the reference.

    python -m bench.departures --players 1000 [--server-args="--pin-cpu off"] [--out DIR]

The human scenario's players all stop at the end of the window, within a second or two, and
the last slice of the window is where its tail has been.  This isolates that burst: the players
join one after another (TLS, hello, name, a single game) and each guesses once; then, with
the server idle, every one of them closes its connection at once.  For ``server.py`` (the
bench's settings, ``--server-args`` added) and for the reference (``bench/refserver.py``),
each in its own process:

* **server CPU a departure**: the process's user and system CPU from the first close until the
  threads of the players that left have ended, divided by the players;
* **their threads gone after**: the time from the first close to the last of their threads'
  end (the server answers nobody meanwhile: that is how long a burst holds the others up).

Writes ``departures.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from tabulate import tabulate

from bench.counts import guessed_once
from bench.launch import ServerProcess
from bench.scenarios import BENCH_FLAGS, RefProcess
from guessnet.launch import certificates

ROOT = Path(__file__).resolve().parent.parent


def burst(server: ServerProcess, ca: Path, players: int) -> dict[str, Any]:
    """Join ``players``, a guess each, then close them all at once; what it cost."""
    process = psutil.Process(server.pid)
    joined = guessed_once(server.port, ca, players)
    serving = process.num_threads() - players  # (their threads end; the rest stay)
    before, start = process.cpu_times(), time.monotonic()
    for player in joined:
        player.close()
    while process.num_threads() > serving:
        if time.monotonic() - start > 120:
            raise RuntimeError("the players' threads did not end within 120 s")
        time.sleep(0.002)
    gone = time.monotonic() - start
    after = process.cpu_times()
    user, system = after.user - before.user, after.system - before.system
    return {"cpu_us": round((user + system) * 1e6 / players),
            "user_us": round(user * 1e6 / players), "system_us": round(system * 1e6 / players),
            "gone_ms": round(gone * 1000)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.departures", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--players", type=int, default=1000)
    parser.add_argument("--server-args", default="",
                        help="more server.py options, e.g. \"--pin-cpu off\"")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    result: dict[str, Any] = {"players": args.players, "server_args": args.server_args}
    with tempfile.TemporaryDirectory(prefix="guessnet-departures-") as tmp:
        work = Path(tmp)
        certs = work / "certs"
        certificates.ensure_certs(certs, ["127.0.0.1"])
        for label in ("guessnet", "reference"):
            server = ServerProcess(work / label, certs, *BENCH_FLAGS,
                                   *shlex.split(args.server_args)).start() \
                if label == "guessnet" else RefProcess(work / label, certs).start()
            try:
                result[label] = burst(server, certs / "ca.pem", args.players)
            finally:
                server.stop()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "departures.json").write_text(json.dumps(result, indent=1) + "\n")
    print(tabulate([[label, result[label]["cpu_us"], result[label]["user_us"],
                     result[label]["system_us"], result[label]["gone_ms"]]
                    for label in ("guessnet", "reference")],
                   headers=[f"{args.players} leaving at once", "server CPU us a departure",
                            "user", "system", "their threads gone after, ms"],
                   tablefmt="github"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
