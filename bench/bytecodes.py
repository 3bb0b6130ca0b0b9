"""Where a guess's or a join's interpreter time goes: bytecodes executed, by function.

    python -m bench.bytecodes guess [--count 1000]          # single-player guesses
    python -m bench.bytecodes join [--count 200]            # players joining one by one
    python -m bench.bytecodes room [--count 300] [--room-size 50]
    python -m bench.bytecodes drop [--count 200]            # players dropping their connection
    python -m bench.bytecodes guess --server reference      # the same, bench/refserver.py

``bench.instructions`` says how much a guess costs, to within 1 %, but not in which Python
function: valgrind sees the interpreter, not the code it runs.  This counts the bytecodes the
server's threads execute (``sys.settrace`` with opcode events, in a server started in this
process as ``server.py`` starts it, its log written, no heartbeat) per guess or per join, by
function, the same on every run but for the rounds' secrets.  A bytecode is not a fixed cost
(a call or a dict lookup is dearer than a jump), so this points where to look; instructions
say whether a change paid.

* ``guess``: one client guesses ``--count`` times, halving the range on each hint.
* ``join``: ``--count`` players join one after another (TLS, hello, name, play).
* ``room``: one client guesses ``--count`` times in a room whose ``--room-size`` - 1 other
  members (another process) only read: a round's end goes to all of them.
* ``drop``: ``--count`` single players join and guess once, then all close their connections
  without ``quit`` (a class leaving, as the human scenario's players do); counted from the
  closes until the players' threads have ended and their log lines are written.

``--server reference`` counts the reference (``bench/refserver.py``, in this process) instead,
for ``guess``, ``join`` and ``drop``: what a bare server of the same architecture executes for
the same work.

Prints the total per guess (or join) and the functions that run the most; writes
``bytecodes-<mode>.json`` (``bytecodes-<mode>-reference.json`` for the reference) to ``--out``.
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from bench.counts import Player, guessed_once, in_process_guessnet, in_process_reference
from guessnet.launch import certificates
from guessnet.support import logs

ROOT = Path(__file__).resolve().parent.parent
ROOM = "r1"

MEMBERS = """
import sys, threading
from pathlib import Path
sys.path.insert(0, {root!r})
from bench.counts import Player
players = []
for i in range({count}):
    player = Player({port}, Path({ca!r}))
    player.join(f"m{{i}}", {room!r})
    players.append(player)
def read(player):
    try:
        while player.tls.recv(65536):
            pass
    except OSError:
        pass
for player in players:
    threading.Thread(target=read, args=(player,), daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
"""


class Counter:
    """Bytecodes executed by every thread but the one that created it, by function, while
    ``on`` is set.  Every frame is traced from its start, ``on`` or not: a frame entered
    before counting began (a connection's loop, which runs for the whole connection) is
    counted too once it is set."""

    def __init__(self) -> None:
        self.by_function: collections.Counter[str] = collections.Counter()
        self.on = threading.Event()
        self._mine = threading.get_ident()

    def trace(self, frame: FrameType, event: str, arg: Any) -> Any:
        if threading.get_ident() == self._mine:
            return None
        frame.f_trace_opcodes = True
        code = frame.f_code
        name = f"{Path(code.co_filename).name}:{code.co_name}"
        by_function, on = self.by_function, self.on

        def local(frame: FrameType, event: str, arg: Any) -> Any:
            if event == "opcode" and on.is_set():
                by_function[name] += 1
            return local
        return local


def measure(mode: str, count: int, room_size: int, work: Path,
            server: str = "guessnet") -> Counter:
    certs = work / "certs"
    certificates.ensure_certs(certs, ["127.0.0.1"])
    ca = certs / "ca.pem"
    counter = Counter()
    port, stop = in_process_reference(certs) if server == "reference" else \
        in_process_guessnet(certs, work / "server")
    members: subprocess.Popen[str] | None = None
    try:
        if mode == "room":
            members = subprocess.Popen(
                [sys.executable, "-c", MEMBERS.format(root=str(ROOT), count=room_size - 1,
                                                      port=port, ca=str(ca), room=ROOM)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            assert members.stdout is not None
            if members.stdout.readline().strip() != "ready":
                raise RuntimeError("the room's other members did not join")
        threading.settrace(counter.trace)
        if mode == "drop":
            drop_all(port, ca, count, counter)
        elif mode == "join":
            counter.on.set()
            players = [Player(port, ca) for _ in range(count)]
            for i, player in enumerate(players):
                player.join(f"j{i}")
            counter.on.clear()
            for player in players:
                player.close()
        else:
            player = Player(port, ca)
            started = player.join("counted", ROOM if mode == "room" else None)
            counter.on.set()
            player.guesses(count, started)
            counter.on.clear()
            player.close()
    finally:
        threading.settrace(None)
        if members is not None:
            members.communicate(timeout=60)
        stop()
    return counter


def drop_all(port: int, ca: Path, count: int, counter: Counter) -> None:
    players = guessed_once(port, ca, count)
    serving = threading.active_count()
    counter.on.set()
    for player in players:
        player.close()
    deadline = time.monotonic() + 60
    while threading.active_count() > serving - count:  # their handler threads ending
        if time.monotonic() > deadline:
            raise RuntimeError("the dropped players' threads did not end within 60 s")
        time.sleep(0.01)
    logs.flush()
    counter.on.clear()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bytecodes", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("guess", "join", "room", "drop"))
    parser.add_argument("--count", type=int, help="guesses, joins or drops (1000, 200, 300, "
                        "200)")
    parser.add_argument("--room-size", type=int, default=50)
    parser.add_argument("--server", choices=("guessnet", "reference"), default="guessnet",
                        help="whose threads to count (the reference has no rooms)")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    if args.server == "reference" and args.mode == "room":
        parser.error("the reference has no rooms: 'room' counts guessnet only")
    count = args.count or {"guess": 1000, "join": 200, "room": 300, "drop": 200}[args.mode]
    with tempfile.TemporaryDirectory(prefix="guessnet-bytecodes-") as tmp:
        counter = measure(args.mode, count, args.room_size, Path(tmp), args.server)
    unit = {"join": "join", "drop": "drop"}.get(args.mode, "guess")
    total = sum(counter.by_function.values()) / count
    top = [(name, round(n / count, 1)) for name, n in counter.by_function.most_common(args.top)]
    print(f"bytecodes a {unit} ({args.server}, {args.mode}, {count}): {total:,.0f}")
    for name, per in top:
        print(f"{per:10,.1f}  {name}")
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = "" if args.server == "guessnet" else "-reference"
    (args.out / f"bytecodes-{args.mode}{suffix}.json").write_text(json.dumps(
        {"server": args.server, "mode": args.mode, "count": count, "room_size": args.room_size,
         f"per_{unit}": round(total, 1), "top": top}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
