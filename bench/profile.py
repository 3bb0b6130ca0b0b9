"""Profile server.py under a benchmark load with py-spy; write the raw samples and a summary.

    python -m bench.profile saturate --clients 50
    python -m bench.profile human --players 2000 [--room-size 50]

py-spy samples the server process from outside (``--gil``: only the thread holding the GIL, so
the summary shows where the interpreter's time goes, not threads waiting in poll()).  It is not
in requirements.txt: ``.venv/bin/pip install py-spy`` first; attaching needs ptrace permission
(root, or ``kernel.yama.ptrace_scope=0``).  The summary lists the functions that hold the GIL
most, by their own samples and with their callees; docs/PERFORMANCE.md quotes such summaries.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench import goload
from bench.scenarios import Bench

PY_SPY = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")


def summarize(raw: Path, top: int = 30) -> str:
    """The top frames of a py-spy ``--format raw`` file, by own and by inclusive samples."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        total += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            inclusive[frame] += int(count)
    if not total:
        return "no samples (was the server idle, or could py-spy not attach?)\n"
    lines = [f"{total} samples holding the GIL", "", "own samples:"]
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in own.most_common(top)]
    lines += ["", "with callees:"]
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in inclusive.most_common(top)
              if not frame.startswith(("Thread.", "<module>"))]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", choices=("saturate", "human"))
    parser.add_argument("--clients", type=int, default=50, help="saturate: clients")
    parser.add_argument("--players", type=int, default=1000, help="human: players")
    parser.add_argument("--room-size", type=int, default=0, help="human: rooms of this size")
    parser.add_argument("--seconds", type=float, default=10.0, help="profiled seconds")
    parser.add_argument("--out", type=Path, default=Path("bench/results/profiles"))
    args = parser.parse_args(argv)
    if not Path(PY_SPY).exists():
        print("py-spy is not installed: run '.venv/bin/pip install py-spy' and try again",
              file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    name = {"saturate": f"saturate-c{args.clients}",
            "human": f"human-{args.players}" + (f"-rooms{args.room_size}"
                                                if args.room_size else "")}[args.scenario]
    raw = args.out / f"{name}.raw.txt"
    bench = Bench.create()
    extra = ("--max", "1000000", "--tries", "1000000") if args.scenario == "saturate" else ()
    server = bench.server("profile", *extra)
    warmup = 5.0
    flags = {"duration": f"{args.seconds + warmup}s"}
    flags.update({"clients": str(args.clients)} if args.scenario == "saturate" else
                 {"players": str(args.players), "room_size": str(args.room_size),
                  "ramp": "2s"})
    try:
        with ThreadPoolExecutor(1) as pool:  # the load runs while py-spy samples
            load = pool.submit(goload.run, args.scenario, server.port,
                               bench.certs / "ca.pem", args.seconds + warmup + 120, **flags)
            time.sleep(warmup)  # connections made and playing before sampling starts
            spy = subprocess.run(
                [PY_SPY, "record", "--pid", str(server.pid), "--duration",
                 str(int(args.seconds)), "--rate", "200", "--format", "raw", "--output",
                 str(raw), "--nonblocking", "--gil"],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            if spy.returncode:
                print(f"py-spy failed: {spy.stderr.strip()}", file=sys.stderr)
            figures: dict[str, Any] = load.result()
    finally:
        server.stop()
        bench.cleanup()
    if spy.returncode or not raw.exists():
        return 1
    head = (f"python -m bench.profile {' '.join(argv if argv is not None else sys.argv[1:])}\n"
            f"latency under profiling: p50 {figures['p50_ms']:.1f} ms, p99 "
            f"{figures['p99_ms']:.1f} ms over {figures['count']} round trips\n\n")
    text = head + summarize(raw)
    (args.out / f"{name}.txt").write_text(text)
    print(text)
    print(f"wrote {args.out / name}.txt and {raw}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
