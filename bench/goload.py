"""Build and run ``bench/goload`` (Go): the load generator that leaves the server its CPU.

The asyncio generator this replaced spent as much CPU as the server it measured; goload, a
compiled program with one goroutine per connection, spends a fraction of it, and reports its
own CPU time so that every figure can be printed with what measuring it cost.  Go comes from
Debian's ``golang-go`` (``scripts/bench.sh`` and ``./test.sh`` install it); the binary is built
from ``bench/goload/main.go`` with the standard library only, once per change of the source.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from bench.services import MissingService

SOURCE = Path(__file__).resolve().parent / "goload"
BINARY = SOURCE / "goload"


def build() -> Path:
    """The goload binary, built if missing or older than its source."""
    newest = max(path.stat().st_mtime for path in SOURCE.glob("*.go"))
    if BINARY.exists() and BINARY.stat().st_mtime >= newest:
        return BINARY
    go = shutil.which("go")
    if go is None:
        raise MissingService("go is not installed (scripts/bench.sh and ./test.sh install "
                             "Debian's golang-go)")
    env = dict(os.environ)
    if "HOME" not in env and "GOCACHE" not in env:  # go needs a cache folder
        env["GOCACHE"] = str(SOURCE / ".cache")
    built = subprocess.run([go, "build", "-o", str(BINARY), "."], cwd=SOURCE, env=env,
                           capture_output=True, text=True, timeout=600)
    if built.returncode != 0:
        raise RuntimeError(f"go build failed: {built.stderr[-2000:]}")
    return BINARY


def run(scenario: str, port: int, ca: Path, timeout: float, **flags: Any) -> dict[str, Any]:
    """Run one goload scenario against 127.0.0.1:``port``; its JSON result."""
    args = [str(build()), scenario, "-port", str(port), "-ca", str(ca)]
    for name, value in flags.items():
        flag = "-" + name.replace("_", "-")
        if isinstance(value, bool):
            if value:
                args.append(flag)
        else:
            args += [flag, str(value)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"goload {scenario} failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
