"""Context switches a human-paced guess costs, guessnet beside the reference, under load.

    python -m bench.switches --players 2000,3000 [--out bench/results]   # ~90 s a size

Under one interpreter lock, a thread that makes a system call while others wait for the lock
hands it over, and waits for it to come back: past a few thousand threads, that convoy is
where the CPU goes (``bench.profile --kernel``).  ``bench.counts`` counts the system calls of
one guess on a quiet server; this counts what the load makes of them.  For each size, the
human scenario of ``bench.run`` (players arriving over 10 s, then guessing about once a second
for 30 s) runs against ``server.py`` and then against the reference
(``bench/refserver.py``), each in a fresh process, while Linux ``perf stat -e
context-switches`` counts every thread of the server (a software event: it works in virtual
machines without hardware counters).  The switches are divided by the guesses answered;
the arrivals are included.  Writes ``switches.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tabulate import tabulate

from bench import scenarios
from bench.services import missing_tool

SWITCHES = re.compile(r"([\d,]+)\s+context-switches")


def counting(perf: str, found: dict[str, int]) -> scenarios.LoadWatch:
    """A ``Bench.watch`` that attaches ``perf stat`` to the server while goload runs; the
    count goes to ``found["switches"]``."""
    @contextlib.contextmanager
    def watch(pid: int) -> Iterator[None]:
        stat = subprocess.Popen([perf, "stat", "-e", "context-switches", "-p", str(pid)],
                                stderr=subprocess.PIPE, text=True)
        try:
            yield
        finally:
            stat.send_signal(signal.SIGINT)
            report = stat.communicate(timeout=30)[1]
            match = SWITCHES.search(report)
            if match is None:
                raise RuntimeError(f"perf stat counted no context switches: {report[-500:]}")
            found["switches"] = int(match.group(1).replace(",", ""))
    return watch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.switches", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--players", default="2000,3000",
                        help="comma-separated sizes (default %(default)s)")
    parser.add_argument("--seconds", type=float, default=30.0, help="guessing time a run")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    perf = shutil.which("perf")
    if perf is None:
        return missing_tool("perf", "apt-get install linux-perf")
    found: dict[str, int] = {}
    bench = scenarios.Bench.create()
    bench.watch = counting(perf, found)
    rows: list[dict[str, Any]] = []
    try:
        for players in (int(size) for size in args.players.split(",")):
            for reference in (False, True):
                got = scenarios.human(bench, players, None, args.seconds, lambda n: None,
                                      reference=reference)
                rows.append({"server": "reference" if reference else "guessnet",
                             "players": players, "guesses": got["count"],
                             "switches": found["switches"],
                             "switches_per_guess": round(found["switches"] /
                                                         max(1, got["count"]), 2),
                             "server_cpu_us_per_guess": round(got["server_cpu_per_guess_us"]),
                             "p99_ms": got["p99_ms"], "dropped": got["dropped"]})
    finally:
        bench.cleanup()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "switches.json").write_text(json.dumps(rows, indent=1) + "\n")
    print(tabulate([[r["server"], r["players"], r["switches_per_guess"],
                     r["server_cpu_us_per_guess"], r["p99_ms"], r["dropped"]] for r in rows],
                   headers=["server", "players", "switches a guess", "server CPU us a guess",
                            "p99 ms", "dropped"], tablefmt="github"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
