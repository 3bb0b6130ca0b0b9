"""A thousand player clients (the real client's link: resume, jitter, logging back in) lose
their server to a kill -9 and are all back, counted, once it is restarted."""

from __future__ import annotations

import resource
import signal
import threading
import time
from pathlib import Path

import pytest

import protocol
from guessnet import wire
from guessnet.client.dial import connect
from guessnet.client.link import PlayerLink
from guessnet.net import tlsconf
from guessnet.net.conn import Connection
from tests.procs import ServerProcess
from tests.services import free_port

CLIENTS = 1000


class Player:
    """One client's link, told nothing on a screen; ``link.online`` says it is back."""

    def __init__(self, port: int, cafile: Path, name: str) -> None:
        context = tlsconf.client_context(cafile)
        self.name = name
        self.said: list[str] = []

        def dial() -> Connection:
            return connect("127.0.0.1", port, context, wire.SERVER_TO_PLAYER, cafile)

        self.link = PlayerLink(dial, lambda msg: None, self.said.append, self.said.append)

    def join(self) -> None:
        assert self.link.start() is not None
        answer = self.link.ask(wire.SetName(name=self.name), wire.Identified)
        assert isinstance(answer, wire.Identified), answer

    def back(self) -> bool:
        return self.link.online.is_set() and self.link.view.name == self.name


@pytest.mark.timeout(240)
def test_a_thousand_clients_are_all_back_after_a_restart(tmp_path: Path, certs: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    port = free_port()
    options = ("--port", str(port), "--max-per-peer", str(2 * CLIENTS),
               "--max-handshakes-per-peer", "64")
    server = ServerProcess(tmp_path / "srv", certs, *options).start()
    players = [Player(port, certs / "ca.pem", f"p{i:04d}") for i in range(CLIENTS)]
    try:
        joining = [threading.Thread(target=p.join) for p in players]
        for thread in joining:
            thread.start()
        for thread in joining:
            thread.join(timeout=60)
        assert sum(p.back() for p in players) == CLIENTS
        server.stop(signal.SIGKILL)
        deadline = time.monotonic() + 20
        while sum(not p.link.online.is_set() for p in players) < CLIENTS:
            assert time.monotonic() < deadline, "the clients did not notice the kill"
            time.sleep(0.05)
        server = ServerProcess(tmp_path / "srv", certs, *options).start()
        restarted = time.monotonic()
        deadline = restarted + 60
        while (back := sum(p.back() for p in players)) < CLIENTS:
            assert time.monotonic() < deadline, f"{back} of {CLIENTS} back"
            time.sleep(0.1)
        took = time.monotonic() - restarted
        admin = server.admin()
        _, rows = admin.table(protocol.ListPlayers())
        admin.close()
        assert sorted(row[2] for row in rows) == [p.name for p in players]  # counted
        assert all(any("logging you back in" in line for line in p.said) for p in players)
        assert took < 30, took
        print(f"{CLIENTS} clients all back {took:.1f} s after the restart")
    finally:
        for player in players:
            player.link.quit()
        server.stop()
