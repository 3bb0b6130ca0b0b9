"""The README's picture of the scoreboard: a server, a few players mid-game, headless chromium.

    .venv/bin/python -m bench.screenshot docs/scoreboard.png

Starts ``server.py`` in a temporary folder (its own certificates), has eight players register,
play rooms, win rounds and a tic-tac-toe match, leaves a round running with its clock on, and
saves the page at 1280x900 as a projector shows it.
"""

from __future__ import annotations

import socket
import ssl
import sys
import tempfile
import time
from pathlib import Path
from typing import TypeVar

import protocol
from bench.browser import chromium
from bench.launch import ServerProcess
from bench.services import free_port

M = TypeVar("M", bound=protocol.Message)


class Player:
    """A blocking player client, enough to stage a game."""

    def __init__(self, port: int, ca: Path, name: str) -> None:
        context = ssl.create_default_context(cafile=str(ca))
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock = context.wrap_socket(raw, server_hostname="127.0.0.1")
        self.decoder = protocol.FrameDecoder(protocol.SERVER_TO_PLAYER)
        self.ask(protocol.Hello(version=protocol.PROTOCOL_VERSION), protocol.Welcome)
        self.ask(protocol.Register(name=name, password=f"{name}-password"), protocol.Identified)

    def ask(self, msg: protocol.Message, kind: type[M]) -> M:
        self.sock.sendall(protocol.encode(msg))
        while True:
            answer = self.decoder.next_message()
            if answer is None:
                data = self.sock.recv(65536)
                if not data:
                    raise RuntimeError("the server closed the connection")
                self.decoder.receive_data(data)
            elif isinstance(answer, kind):
                return answer
            elif isinstance(answer, protocol.Error):
                raise RuntimeError(answer.message)

    def miss(self) -> None:
        """One wrong guess (a lucky right one starts the next round: try again there)."""
        value = 1
        while self.ask(protocol.Guess(value=value), protocol.Hint).result == "correct":
            value = 2 if value == 1 else 1

    def win(self, low: int = 1, high: int = 10) -> None:
        while True:
            middle = (low + high) // 2
            hint = self.ask(protocol.Guess(value=middle), protocol.Hint)
            if hint.result == "correct":
                return
            low, high = (low, middle - 1) if hint.result == "high" else (middle + 1, high)


def stage(port: int, ca: Path) -> list[Player]:
    names = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
    players = {name: Player(port, ca, name) for name in names}
    for name in ("alice", "bob", "carol"):
        players[name].ask(protocol.Play(mode="multi", room="main"), protocol.RoundStarted)
    for name in ("dave", "erin", "frank"):
        players[name].ask(protocol.Play(mode="multi", room="lab-2"), protocol.RoundStarted)
    for winner in ("alice", "bob", "alice"):
        players[winner].win()
    players["dave"].win()
    players["erin"].win()
    players["grace"].ask(protocol.Play(mode="single"), protocol.RoundStarted)
    players["grace"].win()
    players["alice"].miss()  # the round's clock runs
    players["carol"].miss()
    players["heidi"].ask(protocol.Play(mode="tictactoe"), protocol.Board)
    board = players["heidi"].ask(protocol.Move(cell="5"), protocol.Board)
    free = board.board.index(" ") + 1  # the bot has answered: take the first free cell
    players["heidi"].ask(protocol.Move(cell=str(free)), protocol.Board)
    return list(players.values())


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else "docs/scoreboard.png")
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        web = free_port()
        server = ServerProcess(tmp, tmp / "certs", "--web-port", str(web),
                               "--tries", "5").start()
        try:
            players = stage(server.port, tmp / "certs" / "ca.pem")
            with chromium(tmp / "profile", tmp / "certs" / "server.pem") as driver:
                driver.set_window_size(1280, 900)
                driver.get(f"https://127.0.0.1:{web}/")
                deadline = time.monotonic() + 10
                while "heidi" not in driver.page_source and time.monotonic() < deadline:
                    time.sleep(0.1)
                time.sleep(1.5)  # the clock ticks once
                driver.save_screenshot(str(out))
            for player in players:
                player.sock.close()
        finally:
            server.stop()
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
