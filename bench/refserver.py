"""The reference: a bare server of guessnet's architecture that plays the game's wire part.

Same architecture as ``server.py`` (``socketserver.ThreadingTCPServer``, TLS in the handler
thread, one thread per connection, blocking ``recv`` and ``sendall``) and the same framing,
with ``json.loads`` and ``json.dumps`` for every frame, answering ``hello``, ``name``, ``play``
and ``guess`` as the game does (a secret per round, hints, a new round after a win or the last
try) so that every scenario of the benchmark, the human one included, runs against it.  No
accounts, rooms, storage, logs, metrics or limits: ``server.py`` measured against it, in the
same run, is what the product costs beyond its architecture.  It places its threads as
``server.py`` does (``--pin-cpu``, one CPU and a 50 ms switch interval by default), so that
the comparison is of the code, not of where the kernel runs it.

    python -m bench.refserver --certs certs --port 0 [--max 10 --tries 5]
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import socketserver
import ssl
import struct
import sys
from pathlib import Path
from typing import Any

from guessnet.net import tlsconf
from guessnet.support import cpus
from guessnet.wire.codec import FrameDecoder

HEADER = struct.Struct(">I")


def frame(payload: dict[str, Any]) -> bytes:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return HEADER.pack(len(body)) + body


class Round:
    """One player's round: a secret in 1..high and ``tries`` tries."""

    def __init__(self, high: int, tries: int, number: int = 1) -> None:
        self.high, self.tries, self.number = high, tries, number
        self.secret = random.randint(1, high)
        self.used = 0

    def started(self, mode: str) -> dict[str, Any]:
        return {"type": "round_started", "mode": mode, "room": None, "round": self.number,
                "low": 1, "high": self.high, "tries": self.tries, "tries_used": self.used,
                "time_limit": None, "time_left": None, "paused": False}


class RefHandler(socketserver.BaseRequestHandler):
    server: RefServer

    def handle(self) -> None:
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.request.settimeout(30)
        try:
            tls = self.server.context.wrap_socket(self.request, server_side=True)
        except (OSError, ssl.SSLError):
            return
        decoder = FrameDecoder()
        game = Round(self.server.high, self.server.tries)
        with tls:
            while True:
                try:
                    data = tls.recv(65536)
                except (OSError, ssl.SSLError):
                    return
                if not data:
                    return
                decoder.receive_data(data)
                replies: list[bytes] = []
                while (payload := decoder.next_payload()) is not None:
                    game = self.answer(json.loads(payload), game, replies)
                if replies:
                    try:
                        tls.sendall(b"".join(replies))
                    except (OSError, ssl.SSLError):
                        return

    def answer(self, msg: dict[str, Any], game: Round, out: list[bytes]) -> Round:
        kind = msg.get("type")
        if kind == "guess":
            value = msg["value"]
            game.used += 1
            result = "correct" if value == game.secret else \
                "high" if value > game.secret else "low"
            out.append(frame({"type": "hint", "value": value, "result": result,
                              "tries_used": game.used, "tries_left": game.tries - game.used}))
            if result == "correct" or game.used >= game.tries:
                out.append(frame({"type": "round_ended", "mode": "single", "room": None,
                                  "round": game.number, "outcome": "won" if result == "correct"
                                  else "failed", "winner": None, "secret": game.secret,
                                  "game_id": None}))
                game = Round(game.high, game.tries, game.number + 1)
                out.append(frame(game.started("single")))
        elif kind == "hello":
            out.append(frame({"type": "welcome", "version": 1, "server": "reference", "low": 1,
                              "high": game.high, "tries": game.tries}))
        elif kind == "name":
            out.append(frame({"type": "identified", "name": msg.get("name"), "account": False,
                              "resume_token": "reference"}))
        elif kind == "play":
            out.append(frame(game.started(str(msg.get("mode")))))
        elif kind == "quit":
            out.append(frame({"type": "bye", "reason": "quit", "message": "goodbye"}))
        elif kind != "pong":
            out.append(frame({"type": "error", "code": "unknown_type", "message": "?"}))
        return game


class RefServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 4096
    context: ssl.SSLContext
    high: int = 10
    tries: int = 5


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--certs", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max", type=int, default=10, help="numbers 1..MAX (as server.py)")
    parser.add_argument("--tries", type=int, default=5, help="tries a round (as server.py)")
    parser.add_argument("--pin-cpu", type=cpus.setting, default=cpus.AUTO,
                        help="as server.py: the threads on one CPU, and then its switch "
                             "interval (default %(default)s)")
    args = parser.parse_args(argv)
    cpus.set_switch_interval(cpus.pin(args.pin_cpu) is not None)  # placed as server.py is
    server = RefServer(("127.0.0.1", args.port), RefHandler)
    server.context = tlsconf.server_context(tlsconf.CertPaths(args.certs), False)
    server.high, server.tries = args.max, args.tries
    print(f"reference listening: players on 127.0.0.1:{server.server_address[1]} (TLS), "
          f"admin on 127.0.0.1:0", flush=True)
    print("ready", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
