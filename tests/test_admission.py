"""Fair admission: silent or stalled connections never keep a newcomer out of any port.

The gate's decisions are tested with a fake clock; then a real server is held by crowds of
silent sockets, renewed as they are shed, while fresh clients time their welcome.
"""

from __future__ import annotations

import resource
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import protocol
from guessnet.net.gate import Gate, GateLimits, Phase, address_key
from tests.conftest import Peer, Running
from tests.procs import ServerProcess

LIMITS = GateLimits(slots=4, slots_per_address=2, pending=6, pending_per_address=3, stall=0.5)


def test_address_key_counts_an_ipv6_64_as_one_address() -> None:
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::9") \
        == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:10.0.0.7") == "10.0.0.7" == address_key("10.0.0.7")


def test_pending_connections_past_a_bound_name_the_oldest_of_that_address_first() -> None:
    gate = Gate(LIMITS)
    a = [gate.arrive("A", float(t)) for t in range(3)]
    assert not gate.over_pending(a[-1])
    fourth = gate.arrive("A", 3.0)
    assert gate.over_pending(fourth)
    assert gate.pending_victims(fourth) == a  # only A's: B's are not A's business
    gate.shed(a[0])
    assert a[0].shed and a[0].phase is Phase.GONE and not gate.over_pending(fourth)
    others = [gate.arrive(key, 4.0 + i) for i, key in enumerate("BBC")]
    assert not gate.over_pending(others[-1])  # 6 pending, 6 allowed
    last = gate.arrive("D", 7.0)
    assert gate.over_pending(last)  # the whole port is full: the oldest, whoever they are
    assert gate.pending_victims(last)[:3] == [a[1], a[2], fourth]


def test_slots_go_to_addresses_in_turn_within_their_share() -> None:
    gate = Gate(LIMITS)
    crowd = [gate.arrive("A", 0.0) for _ in range(3)]
    newcomer = gate.arrive("B", 1.0)
    for entry in [*crowd, newcomer]:
        gate.request_slot(entry)
    granted = [gate.grant() for _ in range(4)]
    # A's share is 2: its third connection waits, and B's newcomer is not behind it
    assert granted == [crowd[0], newcomer, crowd[1], None]
    assert crowd[2].phase is Phase.PENDING and gate.next_waiter() is None
    gate.leave(crowd[0])
    assert gate.grant() is crowd[2]


def test_only_handshakes_stalled_by_their_client_are_named_for_shedding() -> None:
    gate = Gate(LIMITS)
    holders = [gate.arrive(key, 0.0) for key in "ABCD"]
    for entry in holders:
        gate.request_slot(entry)
        assert gate.grant() is entry
    waiter = gate.arrive("E", 1.0)
    gate.request_slot(waiter)
    assert gate.grant() is None  # all four slots taken
    gate.waiting(holders[0], 1.0)  # waits for its client since 1.0
    gate.waiting(holders[1], 0.5)
    gate.waiting(holders[2], None)  # working: never a victim
    assert gate.victims(1.2) == [holders[1]]  # only one stalled 0.5 s yet
    assert gate.victims(2.0) == [holders[1], holders[0]]  # longest first
    gate.shed(holders[1])
    assert gate.grant() is waiter


def test_a_waiting_address_at_its_share_sheds_its_own_stalled_handshakes() -> None:
    gate = Gate(LIMITS)
    mine = [gate.arrive("A", 0.0) for _ in range(3)]
    for entry in mine:
        gate.request_slot(entry)
    assert [gate.grant(), gate.grant()] == mine[:2]
    gate.waiting(mine[0], 0.0)
    assert gate.victims(1.0) == [mine[0]]  # one slot is still free, but not for A


@pytest.fixture
def many_files() -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


class SilentCrowd:
    """``per_address`` silent TCP connections from each of ``sources`` to ``port``, held
    open by a thread and renewed as soon as the server closes one."""

    def __init__(self, port: int, sources: list[str], per_address: int) -> None:
        self.port, self.renewed = port, 0
        self._socks: dict[int, tuple[socket.socket, str]] = {}
        self._poller = select.poll()
        self._stop = threading.Event()
        for source in sources:
            for _ in range(per_address):
                self._open(source)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _open(self, source: str) -> None:
        sock = socket.socket()
        sock.settimeout(5)
        sock.bind((source, 0))
        try:
            sock.connect(("127.0.0.1", self.port))
        except OSError:  # the backlog is full for a moment: try again on the next pass
            sock.close()
            return
        self._socks[sock.fileno()] = (sock, source)
        self._poller.register(sock, select.POLLIN)

    def _run(self) -> None:
        while not self._stop.is_set():
            for fd, _ in self._poller.poll(100):
                sock, source = self._socks.pop(fd)
                self._poller.unregister(fd)
                sock.close()
                self.renewed += 1
                self._open(source)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for sock, _ in self._socks.values():
            sock.close()


def welcome_time(connect: Callable[[], Peer]) -> float:
    started = time.monotonic()
    peer = connect()
    try:
        peer.hello()
        return time.monotonic() - started
    finally:
        peer.close()


@pytest.mark.timeout(180)
@pytest.mark.parametrize("port", ["player", "admin"])
def test_silent_crowds_never_delay_a_newcomers_welcome(tmp_path: Path, certs: Path,
                                                       many_files: None, port: str) -> None:
    server = ServerProcess(tmp_path, certs, "--max-per-peer", "2000").start()
    target = server.port if port == "player" else server.admin_port

    def fresh() -> Peer:
        if port == "player":
            return Peer(server.port, certs / "ca.pem")
        return Peer(server.admin_port, certs / "ca.pem", cert=certs / "admin.pem",
                    key=certs / "admin.key", accepted=protocol.SERVER_TO_ADMIN)

    try:
        for sources, per_address in ((["127.0.0.1"], 200),
                                     ([f"127.0.3.{i}" for i in range(1, 51)], 20)):
            crowd = SilentCrowd(target, sources, per_address)
            try:
                waits = [welcome_time(fresh) for _ in range(8)]
                assert max(waits) < 1.0, (sources[0], waits)
            finally:
                crowd.close()
    finally:
        server.stop()


def test_a_silent_connection_holds_no_handshake_slot(make_server: Callable[..., Running]
                                                     ) -> None:
    srv = make_server("--max-handshakes", "1")
    silent = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    try:
        assert welcome_time(lambda: srv.player()) < 0.5
    finally:
        silent.close()


def test_a_stalled_handshake_is_shed_for_a_newcomer(make_server: Callable[..., Running]) -> None:
    srv = make_server("--max-handshakes", "1")
    stalled = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    stalled.sendall(b"\x16\x03\x01\x02\x00\x01")  # the start of a ClientHello, then nothing
    deadline = time.monotonic() + 5
    while srv.runtime.servers[0].admittance._gate.slots_total == 0:  # it took the slot
        assert time.monotonic() < deadline
        time.sleep(0.01)
    waited = welcome_time(lambda: srv.player())
    assert 0.3 < waited < 1.5, waited  # it had to stall for 0.5 s before it could be shed
    assert stalled.recv(10) == b""  # shed: closed
    stalled.close()
    assert srv.runtime.servers[0].admittance.shed_total == 1
