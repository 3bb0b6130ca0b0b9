"""guessnet admin client: live events, listings and moderation over mutual TLS.

    python aclient.py                 # admin port 127.0.0.1:4001 with certs/admin.pem
    python aclient.py --watch         # only print events, one per line (for piping)
    printf 'list\\nstats\\n/q\\n' | python aclient.py
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from guessnet import wire
from guessnet.client.connection import (
    ClientError,
    InputRefused,
    LineInput,
    NetThread,
    Reconnector,
    answers,
    connect,
    small_int,
)
from guessnet.client.render import TableAssembler, event_text, message_text
from guessnet.net import tlsconf
from guessnet.net.conn import Connection
from guessnet.wire.text import escape

HERE = Path(__file__).resolve().parents[2]  # the repository (#25: per-user when installed)

HELP = """Admin commands
  list (or who)          connected player sockets: id, peer, name, where, tries, since, rtt
  rooms                  rooms with their members and round number
  stats                  players online, rounds played and won, correct answers, uptime
  kick ID|NAME [REASON]  tell the player why and disconnect them
  say TEXT               a message to every player
  msg NAME TEXT          a message to one player
  history [N]            the last N games of everyone
  replay ID              one game, move by move
  help                   this text
  /q, quit or exit       quit
Events (players connecting, joining, leaving, rounds ending) are printed as they happen."""


USAGE = {"kick": "kick ID|NAME [REASON]", "say": "say TEXT", "msg": "msg NAME TEXT",
         "replay": "replay ID   (a game number, as 'history' lists them)"}


class AdminClient:
    """The admin's session: ``greet`` once connected, then ``command`` per line; a lost
    connection comes back by itself (``Reconnector``) until ``finish``."""

    def __init__(self, connect: Callable[[], Connection], lines: LineInput | None) -> None:
        self.lines = lines
        self.tables = TableAssembler()
        self._connect = connect
        self.net = NetThread(connect(), self.show, self.on_closed)
        self.probing = False  # the answer to the port check is not shown
        self.finished = threading.Event()
        self.reconnector = Reconnector(self.reopen, self.note)

    def note(self, text: str) -> None:
        """A line about the client itself: on stderr in --watch mode (stdout is events)."""
        print(text, file=sys.stderr if self.lines is None else sys.stdout, flush=True)

    def show(self, msg: wire.Message) -> None:
        if self.probing and isinstance(msg, wire.Table | wire.Error):
            return
        if isinstance(msg, wire.AdminEvent):
            print(event_text(msg), flush=True)
        elif isinstance(msg, wire.Table):
            text = self.tables.add(msg)
            if text:
                print(text, flush=True)
        else:
            text = message_text(msg, None, None)
            if text:
                self.note(text)

    def on_closed(self, net: NetThread) -> None:
        if net is self.net and not self.finished.is_set():
            self.reconnector.start()

    def reopen(self) -> bool:
        net = NetThread(self._connect(), self.show, self.on_closed)
        if self.greet(net, again=True) is not None:
            net.stop()
            return False
        return True

    def finish(self) -> None:
        self.finished.set()
        self.reconnector.stop()
        self.net.hang_up()

    def greet(self, net: NetThread, again: bool = False) -> int | None:
        """Say hello; None when greeted, else the exit status."""
        self.net = net
        net.start()
        welcome = net.request(wire.Hello(version=wire.PROTOCOL_VERSION, client="aclient"),
                              answers(wire.Welcome))
        if isinstance(welcome, wire.Welcome):
            self.probing = True  # a player port answers a welcome too, but no admin request
            probe = net.request(wire.Stats(), answers(wire.Table))
            self.probing = False
            if isinstance(probe, wire.Error) and probe.code == "unknown_type":
                print(f"{welcome.server} answered as a player port, not the admin port: run "
                      "aclient.py with the admin port (--port, default 4001).", file=sys.stderr)
                return 1
            self.note(f"Back: connected to the admin port of {welcome.server} again." if again
                      else f"Connected to the admin port of {welcome.server}. Events follow "
                      "as they happen; 'help' lists commands.")
            return None
        if welcome is None and not again:
            print("The server closed the connection: it refused this certificate (is it an "
                  "admin certificate from this server's CA?).", file=sys.stderr)
        return 1

    def command(self, line: str) -> bool:
        """Run one command line; False when the admin quits.  A line not fit to send is
        explained in one line and nothing is sent."""
        try:
            return self._command(line)
        except InputRefused as exc:
            print(exc)
            return True

    def _command(self, line: str) -> bool:
        words = line.split()
        command = words[0].lower()
        rest = line[len(words[0]):].strip()
        net = self.net
        if command in ("/q", "quit", "exit"):
            return False
        if net.closed.is_set() and command != "help":
            print("Not sent: the connection was lost; reconnecting ('/q' quits).")
            return True
        if command == "help":
            print(HELP)
        elif command in ("list", "who"):
            net.request(wire.ListPlayers(), answers(wire.Table))
        elif command == "rooms":
            net.request(wire.ListRooms(), answers(wire.Table))
        elif command == "stats":
            net.request(wire.Stats(), answers(wire.Table))
        elif command == "kick" and len(words) >= 2:
            reason = rest[len(words[1]):].strip()
            net.request(wire.Kick(target=words[1], reason=reason), answers(wire.Ok))
        elif command == "say" and rest:
            net.request(wire.Say(text=rest), answers(wire.Ok))
        elif command == "msg" and len(words) >= 3:
            net.request(wire.DirectMessage(to=words[1], text=rest[len(words[1]):].strip()),
                        answers(wire.Ok))
        elif command == "history":
            limit = small_int(words[1], 6) if len(words) > 1 else 10
            net.request(wire.History(limit=max(1, min(100, limit if limit is not None
                                                          else 100))), answers(wire.Table))
        elif command == "replay" and len(words) == 2 and small_int(words[1]) is not None:
            net.request(wire.Replay(game_id=max(1, small_int(words[1]) or 1)),
                        answers(wire.Table))
        elif command in USAGE:
            print(f"Usage: {USAGE[command]}")
        else:
            print(f"Unknown command: {escape(words[0], 40)!r}. Type 'help'.")
        return True


def parse_args(argv: list[str]) -> argparse.Namespace:
    certs = HERE / "certs"
    parser = argparse.ArgumentParser(prog="aclient.py", description="guessnet admin client.")
    parser.add_argument("--host", default="127.0.0.1", help="server address (default %(default)s)")
    parser.add_argument("--port", type=int, default=4001, help="admin port (default %(default)s)")
    parser.add_argument("--cert", type=Path, default=certs / "admin.pem",
                        help="admin certificate (default: certs/admin.pem)")
    parser.add_argument("--key", type=Path, default=certs / "admin.key",
                        help="its private key (default: certs/admin.key)")
    parser.add_argument("--cafile", type=Path, default=certs / "ca.pem",
                        help="CA that signed the server's certificate (default: certs/ca.pem)")
    parser.add_argument("--watch", action="store_true",
                        help="only print events, one per line, on standard output (notes go "
                             "to standard error); reconnects when the server restarts")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    for path, what in ((args.cert, "admin certificate"), (args.key, "admin key"),
                       (args.cafile, "CA certificate")):
        if not path.exists():
            print(f"no {what} at {path}: run server.py once to create certs/, or pass "
                  "--cert/--key/--cafile (see server.py --issue-admin-cert)", file=sys.stderr)
            return 1
    try:
        context = tlsconf.client_context(args.cafile, args.cert, args.key)
    except (OSError, ValueError) as exc:
        print(f"cannot load the admin certificate: {exc}", file=sys.stderr)
        return 1

    def connect_once() -> Connection:
        return connect(args.host, args.port, context, wire.SERVER_TO_ADMIN, args.cafile)

    lines = None if args.watch else LineInput()
    try:
        client = AdminClient(connect_once, lines)
    except ClientError as exc:
        print(exc, file=sys.stderr)
        return 1
    try:
        if lines is None:
            status = client.greet(client.net)
            if status is not None:
                return status
            client.finished.wait()
            return 0
        with lines.printing():
            status = client.greet(client.net)
            if status is not None:
                return status
            while True:
                line = lines.read(lambda: "admin> ")
                if line is None:
                    return 0
                if line.strip() and not client.command(line.strip()):
                    return 0
    except KeyboardInterrupt:
        return 0
    finally:
        client.finish()


if __name__ == "__main__":
    sys.exit(main())
