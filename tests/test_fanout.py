"""The connection core's hot paths: queue-then-wake fan-out, wake-ups, secret draws.

Both wake-up implementations run every test that wakes a connection."""

from __future__ import annotations

import collections
import contextlib
import os
import socket
import ssl
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import protocol
from guessnet.net import tlsconf, wakeup
from guessnet.net.conn import Connection, tls_handshake
from guessnet.net.outbox import Outbox, Writer
from guessnet.net.pacing import Limits
from guessnet.services.channels import envelope, frames_of
from guessnet.services.rooms import SecretDraws
from guessnet.wire.closing import Close

FRAME = protocol.encode(protocol.Pong(nonce=1))


class CountingWakeup(wakeup.Wakeup):
    """A real implementation, counting the wake-ups it makes per eventfd."""

    def __init__(self, inner: wakeup.Wakeup) -> None:
        self.inner = inner
        self.name = inner.name
        self.woken: collections.Counter[int] = collections.Counter()

    def wake(self, fd: int) -> None:
        self.woken[fd] += 1
        self.inner.wake(fd)

    def drain(self, fd: int) -> None:
        self.inner.drain(fd)

    def burst(self, count: int) -> contextlib.AbstractContextManager[None]:
        return self.inner.burst(count)


@pytest.fixture(params=sorted(wakeup.IMPLEMENTATIONS))
def waker(request: pytest.FixtureRequest) -> CountingWakeup:
    return CountingWakeup(wakeup.choose(request.param))


def idle(waker: wakeup.Wakeup, outbox_bytes: int = 4096) -> Connection:
    """A connection whose owner thread is not running (only its outbox is used)."""
    return Connection(None, accepted=protocol.PLAYER_TO_SERVER,  # type: ignore[arg-type]
                      limits=Limits(outbox_bytes=outbox_bytes), peer="test", wakeup=waker)


def send_to_many(conns: list[Connection], *frames: bytes) -> None:
    """A fan-out as the server's channels make it: every outbox, then the wake-ups."""
    Outbox.put_to_all([c.outbox for c in conns], list(frames), conns[0].wakeup)


def test_send_to_many_queues_every_frame_in_order_and_wakes_sleepers(
        waker: CountingWakeup) -> None:
    interval = sys.getswitchinterval()
    conns = [idle(waker) for _ in range(100)]
    for c in conns[::2]:  # as if blocked in poll()
        assert c.outbox.may_sleep(closing=False, write_blocked=False)
    first, second = protocol.encode(protocol.Pong(nonce=1)), protocol.encode(
        protocol.Pong(nonce=2))
    send_to_many(conns, first, second)
    send_to_many(conns, first)  # a sleeper already woken is not woken again
    for i, c in enumerate(conns):
        assert c.outbox.queued() == [first, second, first]
        # only sleeping owners are woken, each once
        assert waker.woken[c.outbox.wake_fd] == (1 if i % 2 == 0 else 0)
    assert sys.getswitchinterval() == interval  # restored after the burst


def test_overrun_member_is_closed_alone(waker: CountingWakeup) -> None:
    small, roomy = idle(waker, outbox_bytes=len(FRAME) + 1), idle(waker)
    send_to_many([small, roomy], FRAME, FRAME)
    assert small.close_reason is Close.SLOW_READER and not small.outbox.queued()
    assert roomy.close_reason is None and len(roomy.outbox.queued()) == 2


def test_a_finished_outbox_takes_nothing_and_wakes_nobody(waker: CountingWakeup) -> None:
    box = Outbox(4096, waker)
    assert box.may_sleep(closing=False, write_blocked=False)
    fd = box.wake_fd
    assert box.finish(Close.DROPPED) is Close.DROPPED
    assert not box.put(FRAME) and waker.woken[fd] == 0
    box.request_close(Close.KICKED)
    assert box.close_reason is Close.DROPPED  # the first reason wins


def test_switch_interval_is_restored_after_nested_and_concurrent_wakes() -> None:
    gil_holding = wakeup.GilHoldingWakeup()
    before = sys.getswitchinterval()
    barrier = threading.Barrier(4, timeout=10)
    seen: list[float] = []

    def burst() -> None:
        with gil_holding.burst(wakeup.BURST + 1):
            barrier.wait()
            with gil_holding.burst(wakeup.BURST + 1):
                seen.append(sys.getswitchinterval())
            barrier.wait()

    threads = [threading.Thread(target=burst) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert seen and all(value >= 0.5 for value in seen)
    assert sys.getswitchinterval() == before
    with wakeup.PortableWakeup().burst(10_000):  # the portable one changes nothing
        assert sys.getswitchinterval() == before


def test_wakeups_are_chosen_by_name_or_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert wakeup.choose("portable").name == "portable"
    monkeypatch.setenv(wakeup.ENVIRONMENT, "portable")
    assert wakeup.choose().name == "portable"
    monkeypatch.delenv(wakeup.ENVIRONMENT)
    assert wakeup.choose().name == wakeup.DEFAULT
    with pytest.raises(wakeup.WakeupUnavailable, match="choose one of"):
        wakeup.choose("spinning")


def test_several_messages_travel_in_one_envelope_in_order() -> None:
    ended = protocol.RoundEnded(mode="multi", room="r", round=1, outcome="won", winner="ann",
                                secret=3, game_id=None)
    started = protocol.RoundStarted(mode="multi", room="r", round=2, low=1, high=10, tries=5,
                                    tries_used=0)
    assert frames_of(envelope(ended, started)) == [protocol.encode(ended),
                                                   protocol.encode(started)]
    assert frames_of(envelope(ended)) == [protocol.encode(ended)]


def test_secret_draws_are_in_range_and_uniform() -> None:
    draws = SecretDraws()
    counts = collections.Counter(draws.below(10) for _ in range(20_000))
    assert set(counts) == set(range(10))
    assert all(1_700 < n < 2_300 for n in counts.values())  # expected 2,000 each
    assert {draws.below(1) for _ in range(50)} == {0}
    assert all(0 <= draws.below(1_000_003) < 1_000_003 for _ in range(5_000))
    wide = 3 * 2**70 + 1  # over 64 bits: several words a draw
    drawn = [draws.below(wide) for _ in range(2_000)]
    assert all(0 <= value < wide for value in drawn)
    assert max(drawn) > 2**70 and len(set(drawn)) == len(drawn)
    assert len({draws.below(2**64) for _ in range(100)}) == 100
    with pytest.raises(ValueError):
        draws.below(0)


@pytest.fixture
def tls_pair(certs: Path, waker: CountingWakeup) -> Iterator[tuple[Connection, ssl.SSLSocket]]:
    """A server-side Connection and a plain blocking TLS client socket, over a socketpair."""
    server_sock, client_sock = socket.socketpair()
    client_sock.settimeout(10)
    client_ctx = tlsconf.client_context(certs / "ca.pem")
    server_ctx = tlsconf.server_context(tlsconf.CertPaths(certs), False)
    result: dict[str, ssl.SSLSocket] = {}
    hs = threading.Thread(target=lambda: result.update(server=tls_handshake(
        server_sock, server_ctx, server_side=True, timeout=10)))
    hs.start()
    client = client_ctx.wrap_socket(client_sock, server_hostname="127.0.0.1")
    hs.join(timeout=10)
    conn = Connection(result["server"], accepted=protocol.PLAYER_TO_SERVER,
                      limits=Limits(heartbeat=None), peer="test", wakeup=waker)
    yield conn, client
    client.close()


def read_frames(client: ssl.SSLSocket, count: int) -> list[protocol.Message]:
    decoder = protocol.FrameDecoder(protocol.SERVER_TO_PLAYER)
    got: list[protocol.Message] = []
    while len(got) < count:
        data = client.recv(65536)
        assert data, "connection closed early"
        decoder.receive_data(data)
        while (msg := decoder.next_message()) is not None:
            got.append(msg)
    return got


def test_sleeping_owner_is_woken_by_another_thread(
        tls_pair: tuple[Connection, ssl.SSLSocket]) -> None:
    conn, client = tls_pair
    asleep = threading.Event()
    reasons: list[Close] = []

    def on_message(msg: protocol.Message) -> None:
        conn.send(protocol.Pong(nonce=99))
        asleep.set()

    owner = threading.Thread(target=lambda: reasons.append(
        conn.run(on_message, lambda exc: None)))
    owner.start()
    client.sendall(protocol.encode(protocol.Ping(nonce=7)))  # answered by the owner itself
    client.sendall(protocol.encode(protocol.Hello(version=protocol.PROTOCOL_VERSION)))
    assert [type(m) for m in read_frames(client, 2)] == [protocol.Pong, protocol.Pong]
    assert asleep.wait(10)
    # the owner now sleeps in poll() with no timer due; frames and a close from this thread
    # must wake it (a lost wake-up would leave them queued for a minute)
    send_to_many([conn], protocol.encode(protocol.Pong(nonce=1)),
                 protocol.encode(protocol.Pong(nonce=2)))
    assert [m.nonce for m in read_frames(client, 2)] == [1, 2]  # type: ignore[attr-defined]
    conn.close(Close.KICKED)
    owner.join(timeout=10)
    assert reasons == [Close.KICKED]


def run_owner(conn: Connection) -> tuple[threading.Thread, list[Close]]:
    """Start ``conn``'s owner thread; it answers a ``hello`` with ``pong`` 0."""
    reasons: list[Close] = []

    def on_message(msg: protocol.Message) -> None:
        conn.send(protocol.Pong(nonce=0))

    owner = threading.Thread(target=lambda: reasons.append(
        conn.run(on_message, lambda exc: None)))
    owner.start()
    return owner, reasons


def lent_writes_by(conn: Connection) -> list[threading.Thread]:
    """Record which threads call the writer ``conn`` lends its outbox (call before ``run``)."""
    callers: list[threading.Thread] = []
    lend = conn.outbox.lend_writer

    def lend_recorded(writer: Writer | None) -> None:
        def recording(data: bytes) -> int:
            callers.append(threading.current_thread())
            assert writer is not None
            return writer(data)
        lend(None if writer is None else recording)

    conn.outbox.lend_writer = lend_recorded  # type: ignore[method-assign]
    return callers


def asleep_and_lending(conn: Connection, client: ssl.SSLSocket,
                       callers: list[threading.Thread]) -> None:
    """Return once a frame from this thread was written by this thread: the owner, which has
    nothing else to do, went to sleep in poll() (frames sent before that, it writes itself)."""
    for nonce in range(1, 200):
        send_to_many([conn], protocol.encode(protocol.Pong(nonce=-nonce)))
        assert [m.nonce for m in read_frames(client, 1)] == [-nonce]  # type: ignore[attr-defined]
        if threading.current_thread() in callers:
            return
    raise AssertionError("the owner never lent its writer")


def lending_owner(conn: Connection, client: ssl.SSLSocket
                  ) -> tuple[threading.Thread, list[Close], list[threading.Thread]]:
    """Start ``conn``'s owner, greet it, and return once it sleeps lending its writer: the
    owner thread, its close reasons and the threads that called the lent writer."""
    callers = lent_writes_by(conn)
    owner, reasons = run_owner(conn)
    client.sendall(protocol.encode(protocol.Hello(version=protocol.PROTOCOL_VERSION)))
    assert [m.nonce for m in read_frames(client, 1)] == [0]  # type: ignore[attr-defined]
    asleep_and_lending(conn, client, callers)
    return owner, reasons, callers


def test_frames_for_a_sleeping_owner_are_written_by_the_sender(
        tls_pair: tuple[Connection, ssl.SSLSocket], waker: CountingWakeup) -> None:
    conn, client = tls_pair
    owner, reasons, callers = lending_owner(conn, client)
    woken = waker.woken[conn.outbox.wake_fd]
    send_to_many([conn], *(protocol.encode(protocol.Pong(nonce=n)) for n in (500, 501)))
    assert [m.nonce for m in read_frames(client, 2)] == [500, 501]  # type: ignore[attr-defined]
    assert waker.woken[conn.outbox.wake_fd] == woken
    conn.close(Close.KICKED)
    owner.join(timeout=10)
    assert reasons == [Close.KICKED] and owner not in callers


def test_several_messages_sent_in_one_step_arrive_in_order(
        tls_pair: tuple[Connection, ssl.SSLSocket], waker: CountingWakeup) -> None:
    """``send_all`` (a round's end) queues its messages at once: written for a sleeping
    owner by the sender, in order, after what was queued before; refused once closing."""
    conn, client = tls_pair
    owner, reasons, _ = lending_owner(conn, client)
    woken = waker.woken[conn.outbox.wake_fd]
    assert conn.send_all([protocol.Pong(nonce=n) for n in (800, 801, 802)])
    got = read_frames(client, 3)
    assert [m.nonce for m in got] == [800, 801, 802]  # type: ignore[attr-defined]
    assert waker.woken[conn.outbox.wake_fd] == woken  # no wake-up: the sender wrote them
    conn.close(Close.KICKED)
    owner.join(timeout=10)
    assert reasons == [Close.KICKED]
    assert not conn.send_all([protocol.Pong(nonce=803)])


def test_several_frames_queued_for_an_awake_owner_wait_for_it(waker: CountingWakeup) -> None:
    conn = idle(waker, outbox_bytes=3 * len(FRAME))
    assert conn.outbox.put_all([FRAME, FRAME]) and conn.outbox.queued() == [FRAME, FRAME]
    assert waker.woken[conn.outbox.wake_fd] == 0  # awake: it writes them before it sleeps
    assert not conn.outbox.put_all([FRAME, FRAME])  # over the limit: a slow reader
    assert conn.close_reason is Close.SLOW_READER


def test_a_fan_out_behind_frames_queued_first_keeps_their_order(
        tls_pair: tuple[Connection, ssl.SSLSocket]) -> None:
    """Another fan-out's frames, queued but not yet delivered, go out before ours: the
    joined bytes of a fan-out are written as they are only when the queue holds nothing
    else."""
    conn, client = tls_pair
    owner, reasons, _ = lending_owner(conn, client)
    first = [protocol.encode(protocol.Pong(nonce=n)) for n in (700, 701)]
    Outbox._enqueue_each([conn.outbox], first)  # another sender's first pass; its delivery
    # is still to come
    send_to_many([conn], *(protocol.encode(protocol.Pong(nonce=n)) for n in (702, 703)))
    got = read_frames(client, 4)
    assert [m.nonce for m in got] == [700, 701, 702, 703]  # type: ignore[attr-defined]
    conn.close(Close.KICKED)
    owner.join(timeout=10)
    assert reasons == [Close.KICKED]


def test_what_a_lent_write_leaves_is_finished_by_the_owner_in_order(
        tls_pair: tuple[Connection, ssl.SSLSocket], waker: CountingWakeup) -> None:
    conn, client = tls_pair
    conn.tls.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    conn.outbox.limit = 8 * 1024 * 1024
    owner, reasons, _ = lending_owner(conn, client)
    # the client reads nothing while 20,000 frames (~600 KB) are sent: the socket takes a few
    # KiB, the rest waits in the outbox, and the owner must be woken to write it
    total = 20_000
    for start in range(1, total + 1, 100):
        send_to_many([conn], *(protocol.encode(protocol.Pong(nonce=n))
                               for n in range(start, start + 100)))
    got = read_frames(client, total)
    assert [m.nonce for m in got] == list(range(1, total + 1))  # type: ignore[attr-defined]
    assert waker.woken[conn.outbox.wake_fd] >= 1  # and the owner finished the rest
    conn.close(Close.KICKED)
    owner.join(timeout=10)
    assert reasons == [Close.KICKED]


def test_a_lent_write_that_finds_the_connection_broken_drops_it(
        tls_pair: tuple[Connection, ssl.SSLSocket]) -> None:
    conn, client = tls_pair
    owner, reasons, _ = lending_owner(conn, client)
    # the server's side can no longer send (as after a reset): the next lent write fails
    with socket.socket(fileno=os.dup(conn.tls.fileno())) as raw:
        raw.shutdown(socket.SHUT_WR)
    send_to_many([conn], protocol.encode(protocol.Pong(nonce=1)))
    assert conn.close_reason is Close.DROPPED
    owner.join(timeout=10)
    assert reasons == [Close.DROPPED]


def test_a_reply_goes_out_only_once_its_handler_is_done(
        tls_pair: tuple[Connection, ssl.SSLSocket]) -> None:
    """What a handler sends reaches the peer after the handler returns, never while it still
    works: a client acting on a reply finds all the handler did done (the match an accepted
    invitation starts, for one).  Writing replies at the moment they were sent broke that."""
    conn, client = tls_pair
    got = threading.Event()
    seen_while_handling: list[bool] = []

    def on_message(msg: protocol.Message) -> None:
        if isinstance(msg, protocol.Guess):
            conn.send(protocol.Pong(nonce=1))
            seen_while_handling.append(got.wait(0.3))  # (the peer must not have it yet)

    owner = threading.Thread(target=conn.run, args=(on_message, lambda exc: None))
    owner.start()
    client.sendall(protocol.encode(protocol.Hello(version=protocol.PROTOCOL_VERSION)) +
                   protocol.encode(protocol.Guess(value=1)))
    assert [m.nonce for m in read_frames(client, 1)] == [1]  # type: ignore[attr-defined]
    got.set()
    conn.close(Close.KICKED)
    owner.join(timeout=10)
    assert seen_while_handling == [False]
