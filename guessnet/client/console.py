"""guessnet admin client: live events, listings and moderation over mutual TLS.

    python aclient.py                 # admin port 127.0.0.1:4001 with certs/admin.pem
    python aclient.py --watch         # only print events, one per line (for piping)
    printf 'list\\nstats\\n/q\\n' | python aclient.py
"""

from __future__ import annotations

import argparse
import ssl
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from guessnet import wire
from guessnet.client import admin_commands
from guessnet.client.connection import ClientError, InputRefused, NetThread, Reconnector, answers
from guessnet.client.dial import connect, not_greeted, port_number, unframed
from guessnet.client.exports import ExportFiles
from guessnet.client.lines import LineInput
from guessnet.client.render import TableAssembler, event_text, message_text
from guessnet.net import tlsconf
from guessnet.net.conn import Connection
from guessnet.support.places import places
from guessnet.wire.text import escape

PLACES = places()

class AdminClient:
    """The admin's session: ``greet`` once connected, then ``command`` per line; a lost
    connection comes back by itself (``Reconnector``) until ``finish``."""

    def __init__(self, connect: Callable[[], Connection], lines: LineInput | None) -> None:
        self.lines = lines
        self.tables = TableAssembler()
        self._connect = connect
        self.net = NetThread(connect(), self.show, self.on_closed)
        self.probing = False  # the answer to the port check is not shown
        self.exports = ExportFiles()
        self.finished = threading.Event()
        self.greeted = False  # the first connection was welcomed
        self.online = threading.Event()  # connected and greeted: typed lines go out
        self.reconnector = Reconnector(self.reopen, self.note)

    def note(self, text: str) -> None:
        """A line about the client itself: on stderr in --watch mode (stdout is events)."""
        print(text, file=sys.stderr if self.lines is None else sys.stdout, flush=True)

    def hidden(self, msg: wire.Message) -> bool:
        """The answer to greet's probe, or bad data before any welcome: greet speaks."""
        return (self.probing and isinstance(msg, wire.Table | wire.Error)) or \
            unframed(msg, self.greeted)

    def show(self, msg: wire.Message) -> None:
        if self.hidden(msg):
            return
        if isinstance(msg, wire.AdminEvent):
            print(event_text(msg), flush=True)
        elif isinstance(msg, wire.Table) and self.exports.belongs(msg):
            line = self.exports.take(msg)
            if line:
                self.note(line)
        elif isinstance(msg, wire.Table):
            text = self.tables.add(msg)
            if text:
                print(text, flush=True)
        else:
            text = message_text(msg, None, None)
            if text:
                self.note(text)

    def on_closed(self, net: NetThread) -> None:
        if net is self.net and not self.finished.is_set() and self.greeted:
            self.online.clear()
            self.reconnector.start()  # (never greeted: greet says why, and the client ends)

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
            self.greeted = True
            self.online.set()
            self.note(f"Back: connected to the admin port of {welcome.server} again." if again
                      else f"Connected to the admin port of {welcome.server}. Events follow "
                      "as they happen; 'help' lists commands.")
            return None
        if not again:
            print(refusal(net, welcome), file=sys.stderr)
        return 1

    def command(self, line: str) -> bool:
        """Run one command line; False when the admin quits.  A line not fit to send is
        explained in one line and nothing is sent."""
        try:
            return self._command(line)
        except InputRefused as exc:
            print(exc)
            return True

    def wait_online(self) -> bool:
        """Hold a typed line until the connection is back (as the player client does); False
        if the client is finishing."""
        if self.online.is_set() and not self.net.closed.is_set():
            return True
        print("(not connected: this line is sent when you are back; '/q' quits)", flush=True)
        while not self.online.wait(0.5) or self.net.closed.is_set():
            if self.finished.is_set():
                return False
        return True

    def _command(self, line: str) -> bool:
        words = line.split()
        word = words[0].lower()
        rest = line[len(words[0]):].strip()
        if word in ("/q", "quit", "exit"):
            return False
        if word == "help":
            print(admin_commands.help_text())
            return True
        if not self.wait_online():
            return False
        command = admin_commands.BY_WORD.get(word)
        if command is None:
            print(f"Unknown command: {escape(words[0], 40)!r}. Type 'help'.")
            return True
        request = command.build(words, rest) if len(words) - 1 >= command.needs else None
        if request is None:
            print(f"Usage: {command.usage}   ({command.text})")
            return True
        if isinstance(request, wire.Export):
            self.exports.expecting(Path(words[1]))
        self.net.request(request, answers(*command.answers))
        return True


def refusal(net: NetThread, answer: wire.Message | None) -> str:
    """Why the first connection was not welcomed, in one line (it is closed after)."""
    if isinstance(answer, wire.Error) and answer.code != "bad_length":
        net.stop()
        return f"The server refused us: {answer.message}"
    unanswered = not net.closed.is_set()  # (before we close it ourselves)
    why = not_greeted(net, "admin")
    net.stop()
    if net.protocol_error is not None or unanswered:
        return why
    return ("The server closed the connection: it refused this certificate (is it an admin "
            "certificate from this server's CA?).")


def parse_args(argv: list[str]) -> argparse.Namespace:
    certs, shown = PLACES.certs, PLACES.shown
    parser = argparse.ArgumentParser(  # prog: as typed (aclient.py, or guessnet-admin)
        description="guessnet admin client.")
    parser.add_argument("--host", default="127.0.0.1", help="server address (default %(default)s)")
    parser.add_argument("--port", type=port_number, default=4001,
                        help="admin port (default %(default)s)")
    parser.add_argument("--cert", type=Path, default=certs / "admin.pem",
                        help=f"admin certificate (default: {shown(certs / 'admin.pem')})")
    parser.add_argument("--key", type=Path, default=certs / "admin.key",
                        help=f"its private key (default: {shown(certs / 'admin.key')})")
    parser.add_argument("--cafile", type=Path, default=certs / "ca.pem",
                        help="CA that signed the server's certificate (default: "
                             f"{shown(certs / 'ca.pem')})")
    parser.add_argument("--watch", action="store_true",
                        help="only print events, one per line, on standard output (notes go "
                             "to standard error); reconnects when the server restarts")
    return parser.parse_args(argv)


def admin_context(args: argparse.Namespace) -> ssl.SSLContext | str:
    """The admin's TLS context, or the line that says why there is none."""
    for path, what in ((args.cert, "admin certificate"), (args.key, "admin key"),
                       (args.cafile, "CA certificate")):
        if not path.exists():
            return (f"no {what} at {path}: start the server once on this machine (it creates "
                    f"{PLACES.shown(PLACES.certs)}), or pass --cert/--key/--cafile (the server's "
                    "--issue-admin-cert makes them for an admin on another machine)")
    try:
        return tlsconf.client_context(args.cafile, args.cert, args.key)
    except tlsconf.BadCertificate as exc:
        return str(exc)


def console(client: AdminClient, lines: LineInput | None) -> int:
    """Run the session: events only (``--watch``) or events and typed commands."""
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
            if line is None or (line.strip() and not client.command(line.strip())):
                return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    context = admin_context(args)
    if isinstance(context, str):
        print(context, file=sys.stderr)
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
        return console(client, lines)
    except KeyboardInterrupt:
        return 0
    finally:
        client.finish()
