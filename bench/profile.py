"""Profile server.py under a benchmark load; write the raw samples and a summary.

    python -m bench.profile saturate --clients 50
    python -m bench.profile human --players 2000 [--room-size 50]
    python -m bench.profile human --players 2000 --kernel    # where the CPU goes, kernel too
    python -m bench.profile human --players 2000 --kernel --endless   # rounds rarely end
    python -m bench.profile connect --kernel                 # new TLS sessions, 16 clients
    python -m bench.profile human --players 2000 --kernel --reference   # the reference server

py-spy samples the server process from outside (``--gil``: only the thread holding the GIL, so
the summary shows where the interpreter's time goes, not threads waiting in poll()).  It is not
in requirements.txt: ``.venv/bin/pip install py-spy`` first; attaching needs ptrace permission
(root, or ``kernel.yama.ptrace_scope=0``).  The summary lists the functions that hold the GIL
most, by their own samples and with their callees; docs/perf/HISTORY.md quotes such summaries.

``--kernel`` samples with Linux ``perf`` instead (Debian's ``linux-perf``; software clock, so
it works in virtual machines without hardware counters): every thread of the server, in the
kernel and in C as well as in Python, by shared object and by symbol, and counts the context
switches per request.  That is the profile that shows what a thread per connection costs.
``--reference`` profiles the reference (``bench/refserver.py``, the game's default rules)
under the same load instead: the same counts for the bare architecture.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench import goload
from bench.scenarios import ENDLESS, Bench, RefProcess
from bench.services import missing_tool

PY_SPY = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
PERF = shutil.which("perf")


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


def perf_report(data: Path, sort: str, top: int | None) -> list[str]:
    """The ``top`` lines (None: all) of ``perf report`` sorted by ``sort`` (dso or sym), self
    time: the share and the number of samples, then the name."""
    assert PERF is not None
    report = subprocess.run([PERF, "report", "-i", str(data), "--no-children", "--stdio",
                             "--sort", sort, "-g", "none", "-n"], capture_output=True, text=True)
    rows = [line.rstrip() for line in report.stdout.splitlines()
            if line.strip() and not line.startswith("#")]
    return rows[:top]


def kernel_profile(pid: int, seconds: float, data: Path) -> tuple[str, int, int]:
    """Sample every thread of ``pid`` with perf for ``seconds``; the summary, the number of
    context switches counted meanwhile, and the CPU sampled in ms (a sample a millisecond
    of CPU)."""
    assert PERF is not None
    counting = subprocess.Popen([PERF, "stat", "-e", "context-switches", "-x", ",", "-p",
                                 str(pid)], stderr=subprocess.PIPE, text=True)
    subprocess.run([PERF, "record", "-e", "cpu-clock", "-F", "1000", "-g", "-p", str(pid),
                    "-o", str(data), "--", "sleep", str(seconds)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    counting.send_signal(signal.SIGINT)
    counted = counting.communicate()[1]
    switches = next((int(line.split(",")[0]) for line in counted.splitlines()
                     if "context-switches" in line and line.split(",")[0].isdigit()), 0)
    by_object = perf_report(data, "dso", None)
    sampled_ms = sum(int(parts[1]) for parts in map(str.split, by_object)
                     if len(parts) > 2 and parts[1].isdigit())
    lines = ["CPU by shared object (all threads, self time; share, samples):"]
    lines += ["  " + row for row in by_object[:12]]
    lines += ["", "CPU by symbol:"]
    lines += ["  " + row for row in perf_report(data, "sym", 30)]
    return "\n".join(lines) + "\n", switches, sampled_ms


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", choices=("saturate", "human", "connect"))
    parser.add_argument("--clients", type=int, default=50, help="saturate: clients")
    parser.add_argument("--players", type=int, default=1000, help="human: players")
    parser.add_argument("--room-size", type=int, default=0, help="human: rooms of this size")
    parser.add_argument("--seconds", type=float, default=10.0, help="profiled seconds")
    parser.add_argument("--out", type=Path, default=Path("bench/results/profiles"))
    parser.add_argument("--kernel", action="store_true",
                        help="sample with Linux perf (kernel, C and Python; all threads)")
    parser.add_argument("--reference", action="store_true",
                        help="profile the reference server instead of server.py")
    parser.add_argument("--endless", action="store_true",
                        help="human: saturate's endless rules (a round ends every twenty "
                        "guesses or so, not every three); saturate always runs them")
    args = parser.parse_args(argv)
    if args.endless and args.scenario != "human":
        parser.error("--endless is for the human scenario (saturate always runs endless rounds)")
    if args.kernel and PERF is None:
        return missing_tool("perf", "apt-get install linux-perf")
    if not args.kernel and not Path(PY_SPY).exists():
        return missing_tool("py-spy", ".venv/bin/pip install py-spy")
    args.out.mkdir(parents=True, exist_ok=True)
    name = {"saturate": f"saturate-c{args.clients}", "connect": "connect-w16",
            "human": f"human-{args.players}" + (f"-rooms{args.room_size}"
                                                if args.room_size else "")}[args.scenario]
    name += ("-endless" if args.endless else "") + \
        ("-reference" if args.reference else "") + ("-kernel" if args.kernel else "")
    raw = args.out / f"{name}.raw.txt"
    bench = Bench.create()
    extra = ENDLESS if args.scenario == "saturate" or args.endless else ()
    server = RefProcess(bench.work, bench.certs, *extra).start() if args.reference else \
        bench.server("profile", *extra)
    warmup = 5.0
    flags = {"duration": f"{args.seconds + warmup}s"}
    flags.update({"saturate": {"clients": str(args.clients)}, "connect": {"workers": "16"},
                  "human": {"players": str(args.players), "room_size": str(args.room_size),
                            "ramp": "2s"}}[args.scenario])
    try:
        with ThreadPoolExecutor(1) as pool:  # the load runs while py-spy samples
            load = pool.submit(goload.run, args.scenario, server.port,
                               bench.certs / "ca.pem", args.seconds + warmup + 120, **flags)
            time.sleep(warmup)  # connections made and playing before sampling starts
            started = time.monotonic()
            if args.kernel:
                summary, switches, cpu_ms = kernel_profile(server.pid, args.seconds,
                                                           args.out / f"{name}.perf.data")
                sampled = time.monotonic() - started
            else:
                spy = subprocess.run(
                    [PY_SPY, "record", "--pid", str(server.pid), "--duration",
                     str(int(args.seconds)), "--rate", "200", "--format", "raw", "--output",
                     str(raw), "--nonblocking", "--gil"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                if spy.returncode or not raw.exists():
                    print(f"py-spy failed: {spy.stderr.strip()}", file=sys.stderr)
                    return 1
                summary = summarize(raw)
            figures: dict[str, Any] = load.result()
    finally:
        server.stop()
        bench.cleanup()
    head = (f"python -m bench.profile {' '.join(argv if argv is not None else sys.argv[1:])}\n"
            f"latency under profiling: p50 {figures['p50_ms']:.1f} ms, p99 "
            f"{figures['p99_ms']:.1f} ms over {figures['count']} round trips\n")
    if args.kernel:
        per_second = float(figures["rate_per_s"])
        head += (f"context switches: {switches / sampled:,.0f} a second, about "
                 f"{switches / sampled / max(per_second, 1e-9):.1f} per request "
                 f"({per_second:,.0f} requests a second)\n"
                 f"CPU sampled: {cpu_ms / 1000:.2f} s in {sampled:.1f} s, about "
                 f"{cpu_ms * 1000 / sampled / max(per_second, 1e-9):.0f} us a request "
                 "(at the whole run's rate)\n")
    text = head + "\n" + summary
    (args.out / f"{name}.txt").write_text(text)
    print(text)
    samples = args.out / f"{name}.perf.data" if args.kernel else raw
    print(f"wrote {args.out / name}.txt and {samples}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
