"""Instructions a guess costs, counted by valgrind: a figure the machine's noise cannot move.

    python -m bench.instructions [--guesses 1000] [--endless]      # about 3 minutes

CPU times on this machine vary by a third from one run to the next, which hides any change
smaller than that.  ``valgrind --tool=callgrind`` counts the instructions a program executes
instead: the same program on the same input gives the same count (within about 1 %, the
background threads' timers), whatever else the machine is doing.  So a change to the hot
path is measured here first, and in the timed benchmark (``bench.run``) after.

The workload: one client in this process guesses ``--guesses`` guesses one at a time
(halving the range on each hint), against ``server.py``'s services started in process (its
log written, as ``server.py`` does) or the reference (``bench/refserver.py``).  The secrets
come from a seeded generator, so both servers play the same rounds in every run.  Each
server is counted twice, with 100 guesses and with 100 + ``--guesses``; the difference
divided by ``--guesses`` is what one guess costs, start-up left out.  The count covers the
whole process: the server's threads and the client's (the same client for both servers, so
the difference between the servers is the servers').  The kernel's work is not counted.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASE = 100  # guesses in the short run (start-up, certificates, the join)


def workload(server: str, guesses: int, certs: Path, endless: bool) -> None:
    """Run in the process valgrind watches: start ``server``, guess ``guesses`` times."""
    import bench.counts as counts
    from bench import refserver
    from bench.scenarios import ENDLESS
    from guessnet.services import rooms

    draws = random.Random(7)
    rooms.SecretDraws.below = lambda self, n: draws.randrange(n)  # type: ignore[method-assign]
    random.seed(7)  # the reference draws its secrets from the module's generator
    with tempfile.TemporaryDirectory(prefix="guessnet-instructions-") as tmp:
        work = Path(tmp)
        if server == "reference":
            if endless:
                refserver.RefServer.high = refserver.RefServer.tries = 1_000_000
            port, stop = counts.in_process_reference(certs)
        else:
            port, stop = counts.in_process_guessnet(  # (its log written)
                certs, work, *(ENDLESS if endless else ()))
        player = counts.Player(port, certs / "ca.pem")
        player.guesses(guesses, player.join("counted"))
        player.close()
        stop()


def count(server: str, guesses: int, certs: Path, endless: bool) -> int:
    """Instructions valgrind counts for one run of ``workload``."""
    args = [sys.executable, "-m", "bench.instructions", "--run", server, "--guesses",
            str(guesses), "--certs", str(certs)] + (["--endless"] if endless else [])
    done = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                           *args], capture_output=True, text=True, cwd=ROOT, timeout=1800)
    found = re.search(r"Collected\s*:\s*([\d,]+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"valgrind failed: {done.stderr[-1500:]}")
    return int(found.group(1).replace(",", ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--guesses", type=int, default=1000)
    parser.add_argument("--endless", action="store_true",
                        help="rounds (almost) never end (--max 1000000 --tries 1000000)")
    parser.add_argument("--run", choices=("guessnet", "reference"), help=argparse.SUPPRESS)
    parser.add_argument("--certs", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run:  # inside valgrind
        workload(args.run, args.guesses, args.certs, args.endless)
        return 0
    if shutil.which("valgrind") is None:
        from bench.services import missing_tool
        return missing_tool("valgrind", "apt-get install valgrind")
    from guessnet.launch import certificates
    with tempfile.TemporaryDirectory(prefix="guessnet-instructions-") as tmp:
        certs = Path(tmp) / "certs"
        certificates.ensure_certs(certs, ["127.0.0.1"])
        per_guess = {}
        for server in ("guessnet", "reference"):
            short = count(server, BASE, certs, args.endless)
            long = count(server, BASE + args.guesses, certs, args.endless)
            per_guess[server] = (long - short) / args.guesses
    rules = "endless rounds" if args.endless else "default rules"
    print(f"instructions a guess ({rules}, {args.guesses} guesses, client included): "
          f"guessnet {per_guess['guessnet']:,.0f}, reference {per_guess['reference']:,.0f}, "
          f"ratio {per_guess['guessnet'] / per_guess['reference']:.2f}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
