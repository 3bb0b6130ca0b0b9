"""guessnet-play (``python pclient.py``): the player's terminal client.

``PlayerClient`` is the user interface only: it reads lines, finds each one's command in the
table (``client.commands``), and prints what the server says (``client.render``) the moment it
arrives, above the line being typed.  Where the player is (``client.view``) and coming back
after a lost connection (``client.link``) belong to the client library.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from guessnet import wire
from guessnet.client import commands
from guessnet.client.account_prompts import PasswordPrompts
from guessnet.client.commands import int_arg, is_number
from guessnet.client.connection import ClientError, ClientLog, small_int
from guessnet.client.dial import connect, not_greeted, port_number
from guessnet.client.lines import LineInput
from guessnet.client.link import PlayerLink
from guessnet.client.render import TableAssembler, message_text
from guessnet.client.view import Where
from guessnet.net import tlsconf
from guessnet.net.conn import Connection
from guessnet.support.folders import FolderError, private_folder, private_umask
from guessnet.support.places import places
from guessnet.wire import text

PLACES = places()


class PlayerClient:
    """Lines in, commands out (see the module docstring)."""

    def __init__(self, connect: Callable[[], Connection], lines: LineInput) -> None:
        self.lines = lines
        self.tables = TableAssembler()
        self.ping_asked = False
        self.link = PlayerLink(connect, self.show, self.say, self.closed)
        self.view = self.link.view
        self.passwords = PasswordPrompts(self.link, lines, self.say)

    def say(self, line: str) -> None:
        print(line, flush=True)

    def show(self, msg: wire.Message) -> None:
        """A message from the server, printed the moment it arrives."""
        if isinstance(msg, wire.Table):
            table = self.tables.add(msg)
            if table:
                self.say(table)
        elif isinstance(msg, wire.Pong):
            if self.ping_asked:  # the heartbeat's own pongs are not news
                self.ping_asked = False
                rtt = self.link.net.conn.rtt
                self.say(f"round-trip time: {rtt * 1000:.1f} ms" if rtt is not None else "pong")
        else:
            view = self.view
            brief = isinstance(msg, wire.RoundStarted) and view.continues
            line = message_text(msg, view.name, view.mode, brief)
            if line:
                self.say(line)
            self.lines.refresh()

    def closed(self, reason: str) -> None:
        """The server closed the connection on purpose: the client ends."""
        self.say(f"Connection closed ({reason}).")
        self.lines.interrupt()

    # ------------------------------------------------------------------ the input loop

    def run(self) -> int:
        with self.lines.printing():
            welcome = self.link.start()
            if welcome is None:
                why = not_greeted(self.link.net, "player")  # (before we close it ourselves)
                self.link.net.stop()
                print(why, file=sys.stderr)
                return 1
            self.say(f"Connected to guessnet server {welcome.server}. Type 'help' for "
                     "commands.")
            while True:
                line = self.lines.read(self.view.prompt)
                if self.link.finished.is_set():
                    return 1
                if line is None:
                    self.link.quit()
                    return 0
                line = line.strip()
                if line and line.lower() not in ("/q", "quit") and not self.link.wait_online():
                    return 1
                if line and not self.handle(line):
                    self.link.quit()
                    return 0

    def handle(self, line: str) -> bool:
        """Act on one typed line; False when the player quits."""
        words = line.split()
        rest = line[len(words[0]):].strip()
        if self.view.invite_from is not None and line.lower() in ("y", "yes", "n", "no"):
            words = ["accept" if line.lower() in ("y", "yes") else "decline"]
        command = commands.find(words[0], self.view.where)
        if self.view.where is Where.NAMING and (command is None or not command.nameless):
            self.choose_name(line)
            return True
        if command is None:
            self.not_a_command(line)
            return True
        if len(words) - 1 < command.needs:
            self.say(commands.usage(command))
            return True
        run: Callable[[list[str], str], bool | None] = getattr(self, f"do_{command.word}")
        return run(words, rest) is not False

    def not_a_command(self, line: str) -> None:
        """A guess in a guessing game, a move in a match; elsewhere, what to type."""
        if self.view.where is Where.GUESSING and is_number(line):
            self.guess(line)
        elif self.view.where is Where.MATCH:
            self.link.ask(wire.Move(cell=line[:10]), wire.Board)
        else:
            self.say(self.hint())

    def hint(self) -> str:
        if self.view.where is Where.GUESSING:
            return (f"Please type a whole number from {self.view.low} to {self.view.high} "
                    "('exit' leaves the game, 'help' lists commands).")
        return ("Type 1 for single player, 2 (or 'multi ROOM') for multiplayer, 'play GAME' "
                "for a match, 'help' for all commands.")

    def choose_name(self, line: str) -> None:
        """At the name prompt: play as guest ``line``, unless it is no name (said here)."""
        try:
            name = text.check_name(line)
        except text.NameInvalid as exc:
            self.say(f"{exc} ('help' lists the commands).")
            return
        self.link.ask(wire.SetName(name=name), wire.Identified)

    # ------------------------------------------------------------------ the commands

    def do_exit(self, words: list[str], rest: str) -> bool:
        if self.view.where is Where.WATCHING:
            if isinstance(self.link.ask(wire.Watch(), wire.Ok), wire.Ok):
                self.view.move(Where.MENU)
        elif self.view.where is Where.GUESSING:
            self.link.ask(wire.Leave(), wire.LeftGame)
        elif self.view.where is Where.MATCH:
            self.link.ask(wire.Resign(), wire.MatchEnded)
        else:
            return False
        return True

    do_resign = do_exit  # offered in a match only, where exit concedes

    def do_single(self, words: list[str], rest: str) -> None:
        self.link.ask(wire.Play(mode="single"), wire.RoundStarted)

    def do_multi(self, words: list[str], rest: str) -> None:
        self.link.ask(wire.Play(mode="multi", room=words[1] if len(words) > 1 else None),
                      wire.RoundStarted)

    def do_play(self, words: list[str], rest: str) -> None:
        if len(words) > 2:
            self.link.ask(wire.Invite(to=words[2], game=words[1].lower()[:16]),
                          wire.InviteUpdate)
        else:
            self.link.ask(wire.Play(mode=words[1].lower()[:16]), wire.Board)

    def do_invite(self, words: list[str], rest: str) -> None:
        game = words[2].lower()[:16] if len(words) > 2 else "tictactoe"
        self.link.ask(wire.Invite(to=words[1], game=game), wire.InviteUpdate)

    def do_accept(self, words: list[str], rest: str) -> None:
        self.link.ask(wire.InviteReply(accept=words[0].lower() == "accept"), wire.InviteUpdate)

    def do_watch(self, words: list[str], rest: str) -> None:
        if isinstance(self.link.ask(wire.Watch(room=words[1]), wire.Ok), wire.Ok):
            self.view.move(Where.WATCHING)

    def do_say(self, words: list[str], rest: str) -> None:
        self.link.ask(wire.Say(text=rest), wire.Chat)

    def do_msg(self, words: list[str], rest: str) -> None:
        self.link.ask(wire.DirectMessage(to=words[1], text=rest[len(words[1]):].strip()),
                      wire.Ok)

    def do_who(self, words: list[str], rest: str) -> None:
        self.link.ask(wire.Who(), wire.Table)

    def do_leaders(self, words: list[str], rest: str) -> None:
        game = words[1].lower()[:16] if len(words) > 1 else None
        self.link.ask(wire.Leaders(game=game), wire.Table)

    def do_history(self, words: list[str], rest: str) -> None:
        self.link.ask(wire.History(limit=int_arg(words, 1, 10, 1, 100)), wire.Table)

    def do_replay(self, words: list[str], rest: str) -> None:
        game_id = small_int(words[1])
        if game_id is None or len(words) != 2:
            self.say(commands.usage(commands.BY_WORD["replay"]))
            return
        self.link.ask(wire.Replay(game_id=max(1, game_id)), wire.Table)

    def do_ping(self, words: list[str], rest: str) -> None:
        self.ping_asked = True
        self.link.net.conn.ping()

    def do_register(self, words: list[str], rest: str) -> None:
        self.passwords.register(words)

    def do_login(self, words: list[str], rest: str) -> None:
        self.passwords.login(words)

    def do_passwd(self, words: list[str], rest: str) -> None:
        self.passwords.change(words)

    def do_logout(self, words: list[str], rest: str) -> None:
        if isinstance(self.link.ask(wire.Logout(), wire.Ok), wire.Ok):
            self.view.forget_name()
            self.link.credentials = None

    def do_help(self, words: list[str], rest: str) -> None:
        self.say(commands.help_text())

    def do_quit(self, words: list[str], rest: str) -> bool:
        return False

    def guess(self, typed: str) -> None:
        value = small_int(typed)
        if value is None:
            self.say(f"{typed[:20]} is outside the range: guess a number from {self.view.low} "
                     f"to {self.view.high}")
            return
        ends_round = False  # a winning (or, alone, last) guess is answered by the next round

        def answered(msg: wire.Message) -> bool:
            nonlocal ends_round
            if isinstance(msg, wire.Hint):
                ends_round = msg.result == "correct" or (
                    self.view.mode == "single" and msg.tries_left == 0)
                return not ends_round
            if isinstance(msg, wire.RoundStarted):
                return ends_round
            return isinstance(msg, wire.Error | wire.Bye)

        self.link.ask(wire.Guess(value=value), until=answered)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(  # prog: as typed (pclient.py, or guessnet-play)
        description="guessnet player client.")
    parser.add_argument("--host", default="127.0.0.1", help="server address (default %(default)s)")
    parser.add_argument("--port", type=port_number, default=4000,
                        help="player port (default %(default)s)")
    parser.add_argument("--cafile", type=Path, default=PLACES.player_ca,
                        help="CA certificate that signed the server's, from the host's join "
                             f"page (default: {PLACES.shown(PLACES.player_ca)}"
                             f"{'' if PLACES.checkout else ' in the current folder'})")
    parser.add_argument("--log-dir", type=Path, default=PLACES.logs,
                        help=f"folder of client.log (default: {PLACES.shown(PLACES.logs)})")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if not args.cafile.exists():
        print(f"no CA certificate at {args.cafile}: download ca.pem from the host's join page "
              "(/join on the server's web port, e.g. https://SERVER:4002/join) and pass "
              "--cafile ca.pem", file=sys.stderr)
        return 1
    private_umask()
    try:
        wire_log = ClientLog(private_folder(args.log_dir, "log folder", "--log-dir")
                             / "client.log", "pclient")
    except FolderError as exc:
        print(exc, file=sys.stderr)
        return 1
    try:
        context = tlsconf.client_context(args.cafile)
    except tlsconf.BadCertificate as exc:
        print(exc, file=sys.stderr)
        return 1

    def connect_once() -> Connection:
        wire_log.next_connection()
        return connect(args.host, args.port, context, wire.SERVER_TO_PLAYER, args.cafile,
                       on_wire=wire_log)

    try:
        client = PlayerClient(connect_once, LineInput())
    except ClientError as exc:
        print(exc, file=sys.stderr)
        return 1
    try:
        return client.run()
    except KeyboardInterrupt:
        client.link.quit()
        return 0
