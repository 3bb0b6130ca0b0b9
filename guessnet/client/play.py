"""guessnet player client.

    python pclient.py                      # connect to 127.0.0.1:4000, verify with certs/ca.pem
    printf 'alice\\n1\\n5\\n3\\nexit\\n/q\\n' | python pclient.py   # scripted

Messages from the server are printed the moment they arrive, above the line being typed.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from guessnet import wire
from guessnet.client.connection import (
    ClientError,
    ClientLog,
    InputRefused,
    LineInput,
    NetThread,
    Reconnector,
    answers,
    connect,
    small_int,
)
from guessnet.client.render import TableAssembler, message_text
from guessnet.net import tlsconf
from guessnet.net.conn import Connection
from guessnet.support.folders import FolderError, private_folder, private_umask
from guessnet.wire import text

HERE = Path(__file__).resolve().parents[2]  # the repository (#25: per-user when installed)

HELP = """Commands
  In a game     a number          guess it
                exit              leave the game, back to the mode menu
  At the menu   1 or single       a single-player game
                2 or multi        the multiplayer room 'main'
                multi ROOM        join (or create) the room ROOM
  Tic-tac-toe   invite NAME       challenge NAME (also: play tictactoe NAME)
                accept, decline   answer an invitation (also y or n, alone on a line)
                play tictactoe    play against the server (it never loses)
                1-9, b2 or 2,3    your move, in a match
                resign            concede the match
  Anywhere      say TEXT          chat to everyone in your room (the lobby is a room too)
                msg NAME TEXT     a private message to NAME
                who               players online
                leaders [GAME]    leaderboard: single, multi or tictactoe (all if omitted)
                history [N]       your last N games (accounts only)
                replay ID         one game, move by move
                register NAME     create an account and log in (also: adduser); the
                                  password is asked twice, without echo
                login NAME        log in; the password is asked without echo
                passwd            change your password (the old one is checked first)
                logout            log out, back to the name prompt
                ping              round-trip time to the server
                help              this text
                /q, quit          quit (also exit, except inside a game)"""

USAGE = {"say": "say TEXT", "msg": "msg NAME TEXT", "invite": "invite NAME",
         "play": "play tictactoe [NAME]  (no name: play against the server)",
         "replay": "replay ID   (a game number, as 'history' lists them)",
         "multi": "multi [ROOM]  (from the mode menu)"}
GENERAL = frozenset(["who", "list", "leaders", "history", "replay", "say", "msg", "passwd",
                     "logout", "ping", "help"])
NAMELESS = frozenset(["who", "list", "leaders", "history", "replay", "ping"])  # before a name
NAME_PROMPT = "Enter your name (or 'register NAME' / 'login NAME', 'help'): "
MENU_PROMPT = "Select game mode (1: single, 2: multi) : "


NAME_HELD, NAME_RETRY = 40.0, 2.0  # seconds: a guest name held by a seat on another process
# the server closed us on purpose: coming back would be wrong
FINAL = frozenset(["quit", "kicked", "replaced", "version", "refused", "idle"])


class PlayerView:
    """What the server has told this player so far (name, game, board, invitation) and the
    prompt that follows from it; the network thread writes it through ``note``, the input
    thread reads it."""

    def __init__(self) -> None:
        self.name: str | None = None
        self.mode: str | None = None
        self.room: str | None = None
        self.low, self.high = 1, 10
        self.invite_from: str | None = None
        self.board: wire.Board | None = None
        self.resume_token: str | None = None
        self.bye: str | None = None

    def note(self, msg: wire.Message) -> None:
        """Take in what ``msg`` says about where the player is."""
        if isinstance(msg, wire.Identified):
            self.name, self.resume_token = msg.name, msg.resume_token
        elif isinstance(msg, wire.RoundStarted):
            self.mode, self.room, self.low, self.high = msg.mode, msg.room, msg.low, msg.high
        elif isinstance(msg, wire.LeftGame):
            self.mode = self.room = None
        elif isinstance(msg, wire.Invited):
            self.invite_from = msg.sender
        elif isinstance(msg, wire.InviteUpdate):
            if msg.outcome in ("timeout", "cancelled", "accepted", "declined"):
                self.invite_from = None
        elif isinstance(msg, wire.Board):
            self.mode, self.board = "tictactoe", msg
        elif isinstance(msg, wire.MatchEnded):
            self.mode, self.board = None, None
        elif isinstance(msg, wire.Bye):
            self.bye = msg.reason

    def prompt(self) -> str:
        if self.name is None:
            return NAME_PROMPT
        if self.mode == "tictactoe" and self.board is not None:
            if self.board.turn == self.name:
                return f"Your move ({self.board.you}): "
            return f"(waiting for {self.board.turn}) "
        if self.mode is None:
            return MENU_PROMPT
        return f"Input a number ({self.low} ~ {self.high}): "


class PlayerClient:
    def __init__(self, connect: Callable[[], Connection], lines: LineInput) -> None:
        self.lines = lines
        self.tables = TableAssembler()
        self.view = PlayerView()
        self.credentials: tuple[str, str] | None = None  # to log back in after a restart
        self.ping_asked = False
        self.finished = threading.Event()
        self.online = threading.Event()  # connected, and the session is restored
        self.restoring = False  # reopen's own exchanges are not news
        self._connect = connect
        self.reconnector = Reconnector(self.reopen, lambda text: print(text, flush=True))
        self.net = NetThread(connect(), self.show, self.on_closed)

    # ------------------------------------------------------------------ net thread side

    def show(self, msg: wire.Message) -> None:
        if isinstance(msg, wire.Table):
            text = self.tables.add(msg)
            if text:
                print(text, flush=True)
            return
        if isinstance(msg, wire.Pong):
            if self.ping_asked:  # the heartbeat's own pongs are not news
                self.ping_asked = False
                rtt = self.net.conn.rtt
                print(f"round-trip time: {rtt * 1000:.1f} ms" if rtt is not None else "pong",
                      flush=True)
            return
        brief = isinstance(msg, wire.RoundStarted) and \
            (self.view.mode, self.view.room) == (msg.mode, msg.room)
        if self.restoring and isinstance(msg, wire.Error | wire.Identified):
            return  # an old token refused, the name taken back: reopen says it in one line
        self.view.note(msg)
        text = message_text(msg, self.view.name, self.view.mode, brief)
        if text:
            print(text, flush=True)
        self.lines.refresh()

    # ------------------------------------------------------------------ input side

    def greet(self, net: NetThread) -> wire.Welcome | None:
        net.start()
        welcome = net.request(wire.Hello(version=wire.PROTOCOL_VERSION,
                                             client="pclient"), answers(wire.Welcome))
        if isinstance(welcome, wire.Welcome):
            self.view.low, self.view.high = welcome.low, welcome.high
            return welcome
        return None

    def on_closed(self, net: NetThread) -> None:
        """The network thread ended: reconnect, unless the server meant it (or we quit)."""
        if net is not self.net or self.finished.is_set():
            return
        self.online.clear()
        reason = self.view.bye or net.close_reason or "dropped"
        if reason in FINAL:
            print(f"Connection closed ({reason}).", flush=True)
            self.finished.set()
            self.lines.interrupt()
            return
        self.reconnector.start()

    def reopen(self) -> bool:
        """Connect again and put the session back: resume it, or log in and rejoin."""
        net = NetThread(self._connect(), self.show, self.on_closed)
        self.view.bye = None
        self.restoring = True
        try:
            if self.greet(net) is None:
                net.stop()
                return False
            self.net = net
            if self.view.resume_token is not None:
                answer = net.request(wire.Resume(token=self.view.resume_token),
                                     answers(wire.Identified))
                if isinstance(answer, wire.Identified):
                    print("Back: you are where you were.", flush=True)
                    return self._back()
            self.view.resume_token = None
            if self.view.name is None:
                print("Back: connected again.", flush=True)
                return self._back()
            print("The server restarted: logging you back in...", flush=True)
            self._restore(net)
        finally:
            self.restoring = False
        return self._back()

    def _restore(self, net: NetThread) -> None:
        """After a server restart: take the name back (the account, or the guest name) and
        the game mode and room; say in one line what could not be restored."""
        name, mode, room = self.view.name, self.view.mode, self.view.room
        if self.credentials is not None:
            answer = net.request(wire.Login(name=self.credentials[0],
                                                password=self.credentials[1]),
                                 answers(wire.Identified))
        else:
            answer = net.request(wire.SetName(name=name or ""), answers(wire.Identified))
            deadline = time.monotonic() + NAME_HELD
            while isinstance(answer, wire.Error) and answer.code == "name_taken" and \
                    time.monotonic() < deadline and not self.finished.wait(NAME_RETRY):
                # another server process still holds the seat this connection left (its
                # resume token is unknown here): the name is free once that seat is released
                answer = net.request(wire.SetName(name=name or ""),
                                     answers(wire.Identified))
        if not isinstance(answer, wire.Identified):
            self.view.name = self.view.mode = self.view.room = None
            why = answer.message if isinstance(answer, wire.Error) else "no answer"
            print(f"Could not log you back in as {name} ({why}): choose a name again.",
                  flush=True)
            return
        where = ""
        if mode in ("single", "multi"):
            started = net.request(wire.Play(mode=mode, room=room),
                                  answers(wire.RoundStarted))
            if isinstance(started, wire.RoundStarted):
                where = f" in room {room}" if room else " in a new single-player game"
            else:
                self.view.mode = self.view.room = None
        elif mode == "tictactoe":
            self.view.mode, self.view.board = None, None
            where = " (the match was lost with the restart)"
        print(f"Back as {answer.name}{where}.", flush=True)

    def _back(self) -> bool:
        self.online.set()
        self.lines.refresh()
        return True

    def wait_online(self) -> bool:
        """Hold a typed line until the session is back; False if the client is finishing."""
        if self.online.is_set():
            return True
        print("(not connected: this line is sent when you are back; '/q' quits)", flush=True)
        while not self.online.wait(0.5):
            if self.finished.is_set():
                return False
        return not self.finished.is_set()

    def run(self) -> int:
        with self.lines.printing():
            welcome = self.greet(self.net)
            if welcome is None:
                print("The server did not greet us; giving up.", file=sys.stderr)
                return 1
            print(f"Connected to guessnet server {welcome.server}. Type 'help' for commands.")
            self.online.set()
            while True:
                line = self.lines.read(self.view.prompt)
                if self.finished.is_set():
                    return 1
                if line is None:
                    self.quit()
                    return 0
                line = line.strip()
                answer = line.lower()
                if line and line.lower() not in ("/q", "quit") and not self.wait_online():
                    return 1
                # an invitation is answered only by a whole line saying so: what the player
                # was typing (a guess, an empty line) never answers it
                if answer in ("accept", "decline") or (
                        self.view.invite_from is not None and answer in ("y", "yes", "n", "no")):
                    self.ask(wire.InviteReply(accept=answer in ("accept", "y", "yes")),
                             wire.InviteUpdate)
                    continue
                if not line:
                    continue
                if line == "/q" or line.lower() == "quit" or (
                        line.lower() == "exit" and self.view.mode not in ("single", "multi")):
                    self.quit()  # 'exit' in a game leaves the game; elsewhere it quits
                    return 0
                self.handle(line)

    def quit(self) -> None:
        self.finished.set()
        self.reconnector.stop()
        self.net.hang_up()

    def ask(self, msg: wire.Message, *types: type[wire.Message],
            until: Callable[[wire.Message], bool] | None = None) -> wire.Message | None:
        """Send ``msg``; wait for a message of one of ``types`` (or one ``until`` accepts),
        an error or a goodbye, so that the next prompt prints after the whole answer."""
        if self.net.closed.is_set():
            print("Not sent: the connection was lost; reconnecting ('/q' quits).")
            return None
        try:
            answer = self.net.request(msg, until or answers(*types))
        except InputRefused as exc:
            print(exc)
            return None
        if answer is None and not self.net.closed.is_set():
            print("No answer from the server yet; it may be busy.")
        return answer

    def secret(self, words: list[str], index: int, label: str) -> str | None:
        if len(words) > index:
            return words[index]
        return self.lines.read(lambda: f"{label}: ", hidden=True)

    def handle(self, line: str) -> None:
        words = line.split()
        command = words[0].lower()
        rest = line[len(words[0]):].strip()
        if command == "help":
            print(HELP)
        elif command in ("register", "adduser", "login"):
            self.account(command, words)
        elif self.view.name is None and command not in NAMELESS:
            self.choose_name(line)
        elif command == "exit" and self.view.mode in ("single", "multi"):
            self.ask(wire.Leave(), wire.LeftGame)
        elif command in ("invite", "play") and len(words) >= 2:
            self.tictactoe(command, words)
        elif self.view.mode == "tictactoe" and command == "resign":
            self.ask(wire.Resign(), wire.MatchEnded)
        elif self.view.mode == "tictactoe" and command not in GENERAL:
            self.ask(wire.Move(cell=line[:10]), wire.Board)
        elif self.view.mode in ("single", "multi") and _is_number(line):
            self.guess(line)
        elif self.view.mode is None and command in ("1", "single"):
            self.ask(wire.Play(mode="single"), wire.RoundStarted)
        elif self.view.mode is None and command in ("2", "multi"):
            room = words[1] if len(words) > 1 else None
            self.ask(wire.Play(mode="multi", room=room), wire.RoundStarted)
        else:
            self.general(command, words, rest)

    def general(self, command: str, words: list[str], rest: str) -> None:
        if command in ("who", "list"):
            self.ask(wire.Who(), wire.Table)
        elif command == "leaders":
            self.ask(wire.Leaders(game=words[1] if len(words) > 1 else None), wire.Table)
        elif command == "history":
            self.ask(wire.History(limit=_int_arg(words, 1, 10, 1, 100)), wire.Table)
        elif command == "replay" and len(words) == 2 and small_int(words[1]) is not None:
            self.ask(wire.Replay(game_id=max(1, small_int(words[1]) or 1)), wire.Table)
        elif command == "say" and rest:
            self.chat(wire.Say(text=rest), wire.Chat)
        elif command == "msg" and len(words) >= 3:
            self.chat(wire.DirectMessage(to=words[1], text=rest[len(words[1]):].strip()),
                      wire.Ok)
        elif command == "passwd":
            self.change_password(words)
        elif command == "logout":
            if isinstance(self.ask(wire.Logout(), wire.Ok), wire.Ok):
                self.view.name = self.view.mode = self.view.room = self.credentials = None
        elif command == "ping":
            self.ping_asked = True
            self.net.conn.ping()
        elif command in USAGE:
            print(f"Usage: {USAGE[command]}")
        elif self.view.mode is not None:
            print(f"Please type a whole number from {self.view.low} to {self.view.high} "
                  "('exit' leaves the game, 'help' lists commands).")
        else:
            print("Type 1 for single player, 2 (or 'multi ROOM') for multiplayer, "
                  "'help' for all commands.")

    def tictactoe(self, command: str, words: list[str]) -> None:
        """``invite NAME``, ``play tictactoe NAME`` (a challenge) or ``play tictactoe`` (bot)."""
        if command == "play" and words[1].lower() not in ("tictactoe", "ttt"):
            print("Usage: play tictactoe [NAME]  (no name: play against the server)")
            return
        target = words[1] if command == "invite" else (words[2] if len(words) > 2 else None)
        if target is None:
            self.ask(wire.Play(mode="tictactoe"), wire.Board)
        else:
            self.ask(wire.Invite(to=target), wire.InviteUpdate)

    def choose_name(self, line: str) -> None:
        """At the name prompt: play as guest ``line``, unless it is no name (said here)."""
        try:
            name = text.check_name(line)
        except text.NameInvalid as exc:
            print(f"{exc} ('help' lists the commands).")
            return
        self.ask(wire.SetName(name=name), wire.Identified)

    def account(self, command: str, words: list[str]) -> None:
        if len(words) < 2:
            print(f"Usage: {command} NAME   (the password is asked without echo)")
            return
        login = command == "login"
        password = self.secret(words, 2, "Password") if login else \
            self.new_password(words, 2, "Password")
        if password is None:
            return
        msg: wire.Message = wire.Login(name=words[1], password=password) \
            if login else wire.Register(name=words[1], password=password)
        answer = self.ask(msg, wire.Identified)
        if isinstance(answer, wire.Identified):
            self.credentials = (answer.name, password)

    def new_password(self, words: list[str], index: int, label: str) -> str | None:
        """A password being set: from the command line (scripts), else asked twice."""
        if len(words) > index:
            return words[index]
        first = self.lines.read(lambda: f"{label}: ", hidden=True)
        if not first:
            print("No password given: nothing was changed.")
            return None
        again = self.lines.read(lambda: "Repeat it: ", hidden=True)
        if again != first:
            print("The two passwords differ: nothing was sent. Try again.")
            return None
        return first

    def change_password(self, words: list[str]) -> None:
        """``passwd``: the old password is checked before the new one is asked (twice)."""
        old = self.secret(words, 1, "Old password")
        if not old:
            return
        if len(words) < 3 and not isinstance(
                self.ask(wire.ChangePassword(old=old), wire.Ok), wire.Ok):
            return
        new = self.new_password(words, 2, "New password")
        if new is not None and isinstance(
                self.ask(wire.ChangePassword(old=old, new=new), wire.Ok), wire.Ok) \
                and self.credentials is not None:
            self.credentials = (self.credentials[0], new)

    def chat(self, msg: wire.Say | wire.DirectMessage,
             answer: type[wire.Message]) -> None:
        if len(wire.payload_of(msg)) > wire.MAX_PAYLOAD or len(msg.text) > \
                wire.TEXT_MAX:
            print(f"Message too long: at most {wire.TEXT_MAX} characters; not sent.")
            return
        self.ask(msg, answer)

    def guess(self, text: str) -> None:
        value = small_int(text)
        if value is None:
            print(f"{text[:20]} is outside the range: guess a number from {self.view.low} to "
                  f"{self.view.high}")
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

        self.ask(wire.Guess(value=value), until=answered)


def _is_number(text: str) -> bool:
    """A whole number as typed (of any length: ``guess`` says when it is out of range)."""
    body = text[1:] if text[:1] in ("+", "-") else text
    return body.isascii() and body.isdigit()


def _int_arg(words: list[str], index: int, default: int, low: int, high: int) -> int:
    value = small_int(words[index], 6) if len(words) > index else None
    if value is None:
        return high if len(words) > index and _is_number(words[index]) else default
    return max(low, min(high, value))


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pclient.py", description="guessnet player client.")
    parser.add_argument("--host", default="127.0.0.1", help="server address (default %(default)s)")
    parser.add_argument("--port", type=int, default=4000, help="player port (default %(default)s)")
    parser.add_argument("--cafile", type=Path, default=HERE / "certs" / "ca.pem",
                        help="CA certificate that signed the server's (default: certs/ca.pem)")
    parser.add_argument("--log-dir", type=Path, default=HERE / "logs",
                        help="folder of client.log (default: logs/)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if not args.cafile.exists():
        print(f"no CA certificate at {args.cafile}: run server.py once to create it, or pass "
              "--cafile with the server's ca.pem", file=sys.stderr)
        return 1
    private_umask()
    try:
        wire_log = ClientLog(private_folder(args.log_dir, "log folder", "--log-dir")
                             / "client.log", "pclient")
    except FolderError as exc:
        print(exc, file=sys.stderr)
        return 1
    context = tlsconf.client_context(args.cafile)

    def connect_once() -> Connection:
        wire_log.next_connection()
        return connect(args.host, args.port, context, wire.SERVER_TO_PLAYER, args.cafile,
                       on_wire=wire_log)

    lines = LineInput()
    try:
        client = PlayerClient(connect_once, lines)
    except ClientError as exc:
        print(exc, file=sys.stderr)
        return 1
    try:
        return client.run()
    except KeyboardInterrupt:
        client.quit()
        return 0


if __name__ == "__main__":
    sys.exit(main())
