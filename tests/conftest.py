"""Shared fixtures: certificates, a real server on free ports, and a blocking TLS test peer.

Every socket here has a timeout, and every wait has a deadline; nothing sleeps to synchronise.
"""

from __future__ import annotations

import logging
import random
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

import protocol
from guessnet.games.guess import GuessRoom
from guessnet.launch import certificates, options, startup
from guessnet.launch.runtime import Runtime
from guessnet.net import tlsconf
from guessnet.services.composition import Backends, Services
from guessnet.storage.memory import MemoryBus, MemoryCounters, MemoryPresence, MemoryRoomStore
from guessnet.storage.sqlite import SQLiteStore
from guessnet.support import logs
from tests.services import Service, memcached_service, redis_service

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 5.0
M = TypeVar("M", bound=protocol.Message)


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("certs")
    certificates.ensure_certs(folder, ["127.0.0.1"])
    return folder


class Peer:
    """A test client: a blocking TLS socket with a timeout and the real frame decoder."""

    def __init__(self, port: int, cafile: Path, *, cert: Path | None = None,
                 key: Path | None = None, accepted: frozenset[str] = protocol.SERVER_TO_PLAYER,
                 timeout: float = TIMEOUT, rcvbuf: int | None = None,
                 source: str | None = None) -> None:
        context = tlsconf.client_context(cafile, cert, key)
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.settimeout(timeout)
        if source is not None:  # another loopback address: another "machine" to the server
            raw.bind((source, 0))
        if rcvbuf is not None:  # before connect, so the window stays small
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        try:
            raw.connect(("127.0.0.1", port))
        except OSError:
            raw.close()
            raise
        try:
            self.sock = context.wrap_socket(raw, server_hostname="127.0.0.1")
        except BaseException:
            raw.close()
            raise
        self.sock.settimeout(timeout)
        self.decoder = protocol.FrameDecoder(accepted)
        self.inbox: list[protocol.Message] = []
        self.name: str | None = None
        self.pings_answered = 0
        self._stop_after_ping = False

    @property
    def address(self) -> str:
        host, port = self.sock.getsockname()[:2]
        return f"{host}:{port}"

    def send(self, msg: protocol.Message) -> None:
        self.sock.sendall(protocol.encode(msg))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_payload(self, payload: bytes) -> None:
        self.sock.sendall(struct.pack(">I", len(payload)) + payload)

    def _read_one(self, deadline: float) -> protocol.Message | None:
        while True:
            msg = self.decoder.next_message()
            if msg is not None:
                if isinstance(msg, protocol.Ping):
                    self.send(protocol.Pong(nonce=msg.nonce))
                    self.pings_answered += 1
                    if self._stop_after_ping:
                        return None
                    continue
                return msg
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                return None
            if not data:
                raise EOFError("server closed the connection")
            self.decoder.receive_data(data)

    def expect(self, kind: type[M], where: Callable[[M], bool] = lambda m: True,
               timeout: float = TIMEOUT) -> M:
        """The first message of ``kind`` matching ``where`` (others are kept in ``inbox``)."""
        for i, msg in enumerate(self.inbox):
            if isinstance(msg, kind) and where(msg):
                del self.inbox[i]
                return msg
        deadline = time.monotonic() + timeout
        while True:
            got = self._read_one(deadline)
            if got is None:
                raise AssertionError(f"no {kind.__name__} within {timeout} s; "
                                     f"got {str(self.inbox)[-1500:]}")
            if isinstance(got, kind) and where(got):
                return got
            self.inbox.append(got)

    def request(self, msg: protocol.Message, kind: type[M], timeout: float = TIMEOUT) -> M:
        self.send(msg)
        return self.expect(kind, timeout=timeout)

    def refused(self, msg: protocol.Message, code: str | None = None) -> protocol.Error:
        error = self.request(msg, protocol.Error)
        if code is not None:
            assert error.code == code, error
        return error

    def hello(self) -> protocol.Welcome:
        return self.request(protocol.Hello(version=protocol.PROTOCOL_VERSION, client="test"),
                            protocol.Welcome)

    def join_as(self, name: str) -> Peer:
        self.hello()
        self.request(protocol.SetName(name=name), protocol.Identified)
        self.name = name
        return self

    def table(self, msg: protocol.Message) -> tuple[str, list[tuple[Any, ...]]]:
        """Send a listing request and gather its table parts."""
        self.send(msg)
        rows: list[tuple[Any, ...]] = []
        while True:
            part = self.expect(protocol.Table)
            rows.extend(part.rows)
            if part.last:
                return part.title, rows

    def answer_pings(self, count: int, timeout: float = TIMEOUT) -> None:
        """Read (keeping messages) until the server's pings were answered ``count`` times."""
        deadline = time.monotonic() + timeout
        target = self.pings_answered + count
        self._stop_after_ping = True
        try:
            while self.pings_answered < target:
                if time.monotonic() > deadline:
                    raise AssertionError(f"fewer than {count} pings within {timeout} s")
                msg = self._read_one(deadline)
                if msg is not None:
                    self.inbox.append(msg)
        finally:
            self._stop_after_ping = False

    def closed_within(self, timeout: float = TIMEOUT) -> bool:
        """True once the server closes the connection (messages until then are kept)."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                msg = self._read_one(deadline)
                if msg is not None:
                    self.inbox.append(msg)
        except (EOFError, ssl.SSLError, ConnectionError):
            return True
        return False

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class FixedSecret:
    """The test server's secret source: every round's secret is ``value`` (in the rules'
    range), so a test knows it without reading the server's state; a round whose host-set
    range is too narrow for it gets the range's top."""

    def __init__(self, value: int, low: int) -> None:
        self.value, self._offset = value, value - low

    def below(self, n: int) -> int:
        assert n > 0 and self._offset >= 0
        return min(self._offset, n - 1)


@dataclass
class Running:
    runtime: Runtime
    backends: Backends
    secrets: FixedSecret
    certs: Path
    data_dir: Path
    log_dir: Path
    peers: list[Peer]

    @property
    def port(self) -> int:
        return self.runtime.player_port

    @property
    def admin_port(self) -> int:
        return self.runtime.admin_port

    @property
    def services(self) -> Services:
        return self.runtime.services

    def player(self, name: str | None = None, rcvbuf: int | None = None,
               source: str | None = None) -> Peer:
        peer = Peer(self.port, self.certs / "ca.pem", rcvbuf=rcvbuf, source=source)
        self.peers.append(peer)
        if name is not None:
            peer.join_as(name)
        return peer

    def admin(self, cert: Path | None = None, key: Path | None = None,
              greet: bool = True) -> Peer:
        peer = Peer(self.admin_port, self.certs / "ca.pem", cert=cert or self.certs / "admin.pem",
                    key=key or self.certs / "admin.key", accepted=protocol.SERVER_TO_ADMIN)
        self.peers.append(peer)
        if greet:
            peer.hello()
        return peer

    def room_secret(self, room: str = "main") -> int:
        """The secret of every round of ``room`` (see ``FixedSecret``)."""
        return self.secrets.value

    def single_secret(self, name: str) -> int:
        """The secret of every single-player round of ``name`` (see ``FixedSecret``)."""
        return self.secrets.value


def start_server(certs: Path, tmp: Path, *extra: str,
                 backends: Backends | None = None) -> Running:
    args = options.parse_args(["--port", "0", "--admin-port", "0", "--certs", str(certs),
                              "--data-dir", str(tmp / "data"), "--log-dir", str(tmp / "logs"),
                              "--heartbeat", "0", "--web-port", "0", *extra])
    logs.setup(args.log_dir / "server.log", args.verbose)
    if backends is None:
        bus = MemoryBus()
        backends = Backends(store=SQLiteStore(args.data_dir / "guessnet.sqlite3"),
                            rooms=MemoryRoomStore(bus, GuessRoom.from_dict), bus=bus,
                            counters=MemoryCounters(), presence=MemoryPresence())
    secrets = FixedSecret(random.randint(args.min, args.max), args.min)
    runtime = startup.start(args, backends, secrets)
    return Running(runtime, backends, secrets, certs, args.data_dir, args.log_dir, [])


@pytest.fixture
def make_server(certs: Path, tmp_path: Path) -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def make(*extra: str, backends: Backends | None = None) -> Running:
        folder = tmp_path / f"server{len(started)}"
        running = start_server(certs, folder, *extra, backends=backends)
        started.append(running)
        return running

    yield make
    for running in started:
        for peer in running.peers:
            peer.close()
        startup.stop(running.runtime, grace=1.0)
        running.backends.close()


@pytest.fixture
def srv(make_server: Callable[..., Running]) -> Running:
    return make_server()


# --------------------------------------------------------------------- real Redis / memcached

@pytest.fixture(scope="session")
def redis_server() -> Iterator[Service]:
    service = redis_service().start()
    yield service
    service.stop()


@pytest.fixture
def redis_url(redis_server: Service) -> str:
    """A Redis URL with an empty database for this test."""
    import redis
    client = redis.Redis(port=redis_server.port, socket_timeout=5)
    client.flushall()
    client.close()
    return f"redis://127.0.0.1:{redis_server.port}/0"


@pytest.fixture(scope="session")
def memcached_server() -> Iterator[Service]:
    service = memcached_service().start()
    yield service
    service.stop()


def scaled_backends(redis_url: str, memcached: str | None, presence_ttl: int = 30) -> Backends:
    """What server.py opens for --redis/--memcached."""
    args = options.parse_args(["--redis", redis_url, "--presence-ttl", str(presence_ttl)]
                             + (["--memcached", memcached] if memcached else []))
    return options.open_backends(args)


class LogWatch(logging.Handler):
    """Collects the server's log lines; ``wait_for`` blocks until one matches (deadline)."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self._changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self._changed:
            self.lines.append(record.getMessage())
            self._changed.notify_all()

    def wait_for(self, *parts: str, timeout: float = TIMEOUT) -> str:
        def match() -> str | None:
            return next((line for line in self.lines if all(p in line for p in parts)), None)

        with self._changed:
            if not self._changed.wait_for(lambda: match() is not None, timeout):
                raise AssertionError(f"no log line with {parts} in {timeout} s: {self.lines}")
            found = match()
            assert found is not None
            return found


@pytest.fixture
def server_log() -> Iterator[LogWatch]:
    watch = LogWatch()
    logger = logging.getLogger(logs.LOGGER_NAME)
    logger.addHandler(watch)
    yield watch
    logger.removeHandler(watch)
