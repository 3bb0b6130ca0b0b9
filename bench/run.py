"""Run the benchmark scenarios; write JSON, PNG plots and a Markdown report.

    ./scripts/bench.sh                          # everything, 3 repeats (about 40 minutes)
    python -m bench.run --quick --out /tmp/b    # tiny sizes: the smoke run the tests use
    python -m bench.run --only human,fanout --repeat 1
    python -m bench.run --only human --stay     # players leave after the measured time
    python -m bench.run --only human --endless  # both servers' rounds end every ~20 guesses

The load comes from bench/goload (Go, built on first use), which reports its own CPU time.

Figures are medians over ``--repeat`` runs, with min and max.  The human scenario runs
guessnet's modes and the reference back to back at each size, in every repetition, and reports
each single-player run's CPU a guess over the reference's of the same repetition.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
from tabulate import tabulate
from tqdm import tqdm

from bench import goload, plots
from bench.scenarios import ENDLESS, Bench, burst, connect, fanout, human, saturate, workers

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ("human", "burst", "saturate", "fanout", "connect", "workers")


def sizes(quick: bool) -> dict[str, Any]:
    """Per scenario: human (player counts, room sizes, seconds, ramp), burst (players,
    window), saturate (clients, seconds), fanout (members, rounds), connect (seconds, held),
    workers (players, seconds, ramp, processes)."""
    if quick:
        return {"human": ([5], [None, 5], 2.0, 1.0), "burst": (20, 1.0),
                "saturate": ([2], 1.0), "fanout": (5, 2), "connect": (1.0, [10]),
                "workers": (10, 2.0, 1.0, 2)}
    return {"human": ([1000, 2000, 3000], [None, 50], 30.0, 10.0), "burst": (3000, 10.0),
            "saturate": ([1, 50, 500], 8.0), "fanout": (1000, 20),
            "connect": (5.0, [1000]), "workers": (5000, 30.0, 10.0, 2)}


def machine() -> dict[str, Any]:
    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(), "system": platform.platform(),
            "date": time.strftime("%Y-%m-%d %H:%M")}


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per numeric field: the median, and ``<field>_min``/``_max``; per list of numbers (the
    p99 of each slice of the window), the median of each place; other fields from run 1."""
    out: dict[str, Any] = {}
    for key, value in runs[0].items():
        values = [r[key] for r in runs]
        if _numbers(value) and all(_numbers(v) and len(v) == len(value) for v in values):
            out[key] = [statistics.median(place) for place in zip(*values, strict=True)]
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            out[key] = median_of(_same_keys(values)) if isinstance(value, dict) and all(
                isinstance(v, dict) for v in values) and not _is_series(value) else value
            continue
        out[key] = statistics.median(values)
        if len(runs) > 1:
            out[f"{key}_min"], out[f"{key}_max"] = min(values), max(values)
    return out


def _same_keys(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Dicts of counts from each run (why players failed to join: a reason seen in one run
    only), each with every run's keys: a count a run did not report is 0."""
    keys = list(dict.fromkeys(key for run in runs for key in run))
    return [{key: run.get(key, 0) for key in keys} for run in runs]


def _numbers(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in value)


def _is_series(value: dict[str, Any]) -> bool:
    return any(isinstance(v, list) for v in value.values())


def repeated(count: int, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    return median_of([run() for _ in range(count)])


def side_by_side(count: int, counts: list[int], modes: list[int | None],
                 run: Callable[[int, int | None, bool], dict[str, Any]]
                 ) -> list[dict[str, Any]]:
    """The human scenario's rows, each the median of ``count`` runs: every mode of guessnet,
    then the reference, one after another at each size and in each repetition, so that a
    slower stretch of the host falls on both servers (their runs of a figure used to be
    minutes apart).  Each run of a single-player row carries ``cpu_ratio``: its CPU a guess
    over the reference's in the same repetition.  Rows come modes first, sizes within."""
    runs: dict[tuple[int | None, bool, int], list[dict[str, Any]]] = {}
    sides = [*((mode, False) for mode in modes), (None, True)]
    for players in counts:
        for _ in range(count):
            done = {(mode, ref): run(players, mode, ref) for mode, ref in sides}
            reference = done[None, True]["server_cpu_per_guess_us"]
            for (mode, ref), got in done.items():
                if mode is None and not ref:
                    got["cpu_ratio"] = got["server_cpu_per_guess_us"] / reference \
                        if reference else 0.0
                runs.setdefault((mode, ref, players), []).append(got)
    return [median_of(runs[mode, ref, players]) for mode, ref in sides for players in counts]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke run)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="scenarios to run")
    parser.add_argument("--players", help="human scenario's player counts, e.g. 100,1000")
    parser.add_argument("--stay", action="store_true",
                        help="human: players leave after the measured time, not during it")
    parser.add_argument("--endless", action="store_true",
                        help=f"human: both servers with saturate's endless rules "
                        f"({' '.join(ENDLESS)}), so that a round ends every twenty "
                        "guesses or so instead of three")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results",
                        help="folder for JSON, PNG and report.md (default bench/results)")
    args = parser.parse_args(argv)
    chosen = [s for s in args.only.split(",") if s]
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    args.out.mkdir(parents=True, exist_ok=True)
    size = sizes(args.quick)
    if args.players:
        counts = [int(n) for n in args.players.split(",")]
        size["human"] = (counts, *size["human"][1:])
    goload.build()  # before any server starts: a missing Go is one clear line
    bench = Bench.create()
    results: dict[str, Any] = {"machine": machine(), "command": " ".join(
        ["python -m bench.run", *(argv if argv is not None else sys.argv[1:])])}
    steps = estimate_steps(chosen, size, args.repeat)
    bar = tqdm(total=steps, desc="bench", unit="step", file=sys.stderr)
    tick = bar.update
    def job(name: str) -> Any:
        """One scenario at the chosen sizes, each figure the median of --repeat runs."""
        if name == "human":  # the reference too, at the same sizes, in the same run
            counts, modes, seconds, ramp = size["human"]
            return side_by_side(args.repeat, counts, modes, lambda n, m, ref: human(
                bench, n, m, seconds, tick, ramp, reference=ref, stay=args.stay,
                rules=ENDLESS if args.endless else ()))
        if name == "burst":
            players, window = size["burst"]
            return repeated(args.repeat, functools.partial(burst, bench, players, window, tick))
        if name == "saturate":  # the game's default rules (rounds end), then endless rounds
            clients, seconds = size["saturate"]
            return [repeated(args.repeat, functools.partial(saturate, bench, c, seconds, tick,
                                                            rules))
                    for rules in ((), ENDLESS) for c in clients]
        if name == "fanout":
            members, rounds = size["fanout"]
            return [repeated(args.repeat, functools.partial(
                fanout, bench, members, rounds, tick, slow_reader=slow))
                for slow in (False, True)]
        if name == "connect":
            seconds, holds = size["connect"]
            return repeated(args.repeat, functools.partial(connect, bench, seconds, holds, tick))
        players, seconds, ramp, count = size["workers"]
        return repeated(args.repeat, functools.partial(workers, bench, players, seconds, tick,
                                                       ramp, count))

    failed = []
    try:
        for name in chosen:
            try:
                results[name] = job(name)
            except Exception as exc:  # one scenario failing must not lose the others
                failed.append(f"{name}: {type(exc).__name__}: {exc}")
                continue
            (args.out / f"{name}.json").write_text(json.dumps(results[name], indent=1))
    finally:
        bar.close()
        bench.cleanup()
    (args.out / "machine.json").write_text(json.dumps(
        {"machine": results["machine"], "command": results["command"]}, indent=1))
    figures = plots.draw_all(results, args.out)
    report = plots.report(results, figures)
    (args.out / "report.md").write_text(report)
    print(report)
    print(tabulate([[f] for f in figures], headers=["plots written to " + str(args.out)]))
    for line in failed:
        print(f"scenario failed: {line}", file=sys.stderr)
    return 1 if failed else 0


def estimate_steps(chosen: list[str], size: dict[str, Any], repeat: int) -> int:
    steps = 0
    if "human" in chosen:
        steps += len(size["human"][0]) * (len(size["human"][1]) + 1) * repeat
    if "burst" in chosen:
        steps += repeat
    if "workers" in chosen:
        steps += repeat
    if "saturate" in chosen:
        steps += 2 * 2 * len(size["saturate"][0]) * repeat
    if "fanout" in chosen:
        steps += 2 * size["fanout"][1] * repeat
    if "connect" in chosen:
        steps += (1 + len(size["connect"][1])) * repeat
    return steps


if __name__ == "__main__":
    sys.exit(main())
