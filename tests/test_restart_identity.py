"""A process restarted within the presence TTL never evicts another process run's players.

Redis keeps the dead run's name claims for up to ``--presence-ttl`` seconds.  The restarted
process has the same instance name and counts connections from 1 again, so without a per-run
incarnation a returning player's login would evict whoever now holds the dead session's number.
"""

from __future__ import annotations

import signal
from pathlib import Path

import protocol
from tests.conftest import Peer
from tests.procs import ServerProcess

PASSWORD = "returning-player"


def login(server: ServerProcess, name: str) -> Peer:
    peer = server.peer()
    peer.hello()
    peer.request(protocol.Login(name=name, password=PASSWORD), protocol.Identified)
    return peer


def test_restart_within_the_ttl_evicts_nobody_but_the_same_name(
        tmp_path: Path, certs: Path, redis_url: str) -> None:
    extra = ("--redis", redis_url, "--presence-ttl", "30", "--instance-id", "A")
    first = ServerProcess(tmp_path / "a", certs, *extra).start()
    names = [f"p{i}" for i in range(20)]
    peers: list[Peer] = []
    try:
        for name in names:
            peers.append(first.peer())
            peers[-1].hello()
            peers[-1].request(protocol.Register(name=name, password=PASSWORD),
                              protocol.Identified)
    finally:
        first.stop(signal.SIGKILL)  # their name claims stay in Redis for the TTL
        for peer in peers:
            peer.close()
    again = ServerProcess(tmp_path / "a", certs, *extra).start()
    back: dict[str, Peer] = {}
    try:
        for name in reversed(names):  # each gets another connection number than before
            back[name] = login(again, name)
        for name, peer in back.items():  # the claims of the dead run evicted nobody
            assert not peer.closed_within(0.2), f"{name} was closed: {peer.inbox}"
            assert not [m for m in peer.inbox if isinstance(m, protocol.Bye)], peer.inbox
        assert back["p3"].request(protocol.Ping(nonce=1), protocol.Pong).nonce == 1
        back["p3 again"] = login(again, "p3")  # the same name: that one alone is replaced
        assert back["p3"].expect(protocol.Bye).reason == "replaced"
        for name, peer in back.items():
            if name != "p3":
                assert peer.request(protocol.Ping(nonce=2), protocol.Pong).nonce == 2, name
    finally:
        again.stop()
        for peer in back.values():
            peer.close()
