"""guessnet server: a TLS player port and a mutual-TLS admin port.

    python server.py                       # players on 127.0.0.1:4000, admin on 127.0.0.1:4001
    python server.py --host 0.0.0.0        # players from the LAN (admin stays on 127.0.0.1)
    python server.py --replay [ID]         # list or replay stored games, server not started
    python server.py --issue-admin-cert bob  # certificate for an admin on another machine

Each port is a ``socketserver.ThreadingTCPServer`` subclass; one handler thread per connection
does the TLS handshake under a deadline and then runs that connection's session.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import resource
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import protocol
from games.guess import Rules
from guessnet import logs, tlsconf, wakeup
from guessnet.admin import AdminSession
from guessnet.conn import Connection, HandshakeFailed, tls_handshake
from guessnet.hub import Backends, Hub, Refused, Settings
from guessnet.listings import send_history, send_replay
from guessnet.logs import escape, log
from guessnet.matches import Matches
from guessnet.pacing import Limits
from guessnet.player import PlayerSession
from guessnet.render import render_table
from guessnet.wakeup import Wakeup, WakeupUnavailable
from storage.base import BackendError, Counters
from storage.memory import MemoryBus, MemoryCounters, MemoryPresence, MemoryRoomStore
from storage.sqlite import SQLiteStore

HERE = Path(__file__).resolve().parent
SEND_BUFFER = 128 * 1024


def peer_text(address: tuple[str, int] | tuple[str, int, int, int]) -> str:
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class StartError(Exception):
    """The server cannot start: a port could not be bound, or an option does not work on this
    platform; the message names it and says why."""


@dataclass
class Runtime:
    """Everything the handlers share: the hub, TLS contexts and limits."""

    hub: Hub
    player_context: ssl.SSLContext
    admin_context: ssl.SSLContext
    limits: Limits
    wakeup: Wakeup
    servers: list[GameTCPServer] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)

    @property
    def player_port(self) -> int:
        return int(self.servers[0].server_address[1])

    @property
    def admin_port(self) -> int:
        return int(self.servers[1].server_address[1])


def _wire_logger(peer: str) -> object:
    if not logs.wire_enabled():
        return None
    return lambda direction, data: logs.wire(direction, peer, data.decode("utf-8", "replace"))


class GameTCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """A listening port: threads per connection, reusable address, large backlog."""

    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    request_queue_size = 1024

    runtime: Runtime  # set once both ports are bound

    def __init__(self, address: tuple[str, int],
                 handler: type[socketserver.BaseRequestHandler]) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, handler)

    def handle_error(self, request: object, client_address: object) -> None:
        log("ERROR", f"handler for {client_address} crashed: "
            f"{escape(traceback.format_exc(), 4000)}", level=logging.ERROR)


class PlayerHandler(socketserver.BaseRequestHandler):
    server: GameTCPServer

    def handle(self) -> None:
        runtime = self.server.runtime
        peer = peer_text(self.client_address)
        host = peer.rsplit(":", 1)[0]
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # A fixed kernel send buffer: what a client does not read piles up in its outbox,
        # where the --outbox-kb limit applies, not in megabytes of autotuned kernel memory.
        self.request.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        refusal = runtime.hub.admit(host)
        try:
            tls = tls_handshake(self.request, runtime.player_context, server_side=True,
                                timeout=runtime.limits.handshake_timeout)
        except HandshakeFailed as exc:
            log("CONNECTION", f"{peer} TLS handshake failed: {escape(exc)}")
            if refusal is None:
                runtime.hub.release(host)
            return
        conn = Connection(tls, accepted=protocol.PLAYER_TO_SERVER, limits=runtime.limits,
                          peer=peer, on_wire=_wire_logger(peer),  # type: ignore[arg-type]
                          wakeup=runtime.wakeup)
        if refusal is not None:
            log("CONNECTION", f"{peer} refused: {refusal}")
            conn.send(protocol.Error(code="server_full", message=refusal))
            conn.close("refused")
            conn.run(lambda msg: None, lambda exc: None)
            return
        try:
            PlayerSession(runtime.hub, conn, peer).serve()
        finally:
            runtime.hub.release(host)


class AdminHandler(socketserver.BaseRequestHandler):
    server: GameTCPServer

    def handle(self) -> None:
        runtime = self.server.runtime
        peer = peer_text(self.client_address)
        try:
            tls = tls_handshake(self.request, runtime.admin_context, server_side=True,
                                timeout=runtime.limits.handshake_timeout)
        except HandshakeFailed as exc:
            log("CONNECTION", f"admin port: {peer} refused: {escape(exc)}")
            return
        cert = tls.getpeercert()
        role = tlsconf.subject_field(cert, "organizationalUnitName")
        holder = tlsconf.subject_field(cert, "commonName") or "?"
        conn = Connection(tls, accepted=protocol.ADMIN_TO_SERVER, limits=runtime.limits,
                          peer=peer, on_wire=_wire_logger(peer),  # type: ignore[arg-type]
                          wakeup=runtime.wakeup)
        if role != tlsconf.ADMIN_ROLE:
            log("CONNECTION", f"admin port: {peer} refused: certificate of "
                f"{escape(holder)} is for role {escape(role)!r}, not admin")
            conn.send(protocol.Bye(reason="refused",
                                   message="this certificate is not issued for the admin role"))
            conn.close("refused")
            conn.run(lambda msg: None, lambda exc: None)
            return
        AdminSession(runtime.hub, conn, peer, holder).serve()


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="server.py", description="guessnet: a TLS multiplayer number-guessing server.")
    net = parser.add_argument_group("network")
    net.add_argument("--host", default="127.0.0.1",
                     help="address of the player port (0.0.0.0 for every interface; "
                          "default %(default)s)")
    net.add_argument("--port", type=int, default=4000, help="player port (default %(default)s)")
    net.add_argument("--admin-host", default="127.0.0.1",
                     help="address of the admin port (default %(default)s: this machine only)")
    net.add_argument("--admin-port", type=int, default=4001,
                     help="admin port, mutual TLS (default %(default)s)")
    net.add_argument("--instance-id", default=None,
                     help="name of this process in logs and admin listings (default host:port)")
    scale = parser.add_argument_group("scale-out (several processes serving one game)")
    scale.add_argument("--redis", default=os.environ.get("GUESSNET_REDIS_URL"),
                       metavar="URL", help="redis://host:port/db: message queue, shared rooms, "
                       "presence, accounts and history (env GUESSNET_REDIS_URL)")
    scale.add_argument("--memcached", default=os.environ.get("GUESSNET_MEMCACHED"),
                       metavar="HOST:PORT", help="answer counters (env GUESSNET_MEMCACHED)")
    scale.add_argument("--presence-ttl", type=int, default=30, metavar="SECONDS",
                       help="a crashed process's players vanish from listings within this "
                            "(default %(default)s)")
    game = parser.add_argument_group("game")
    game.add_argument("--min", type=int, default=1, help="lowest secret (default %(default)s)")
    game.add_argument("--max", type=int, default=10, help="highest secret (default %(default)s)")
    game.add_argument("--tries", type=int, default=5,
                      help="tries per player per round (default %(default)s)")
    files = parser.add_argument_group("files")
    files.add_argument("--certs", type=Path, default=HERE / "certs",
                       help="certificate folder, created on first run (default: certs/)")
    files.add_argument("--data-dir", type=Path, default=HERE / "data",
                       help="folder of the SQLite database (default: data/)")
    files.add_argument("--log-dir", type=Path, default=HERE / "logs",
                       help="folder of server.log (default: logs/)")
    files.add_argument("-v", "--verbose", action="store_true",
                       help="also log every frame sent and received (RECV/SEND)")
    limits = parser.add_argument_group("limits")
    limits.add_argument("--max-connections", type=int, default=10_000,
                        help="player connections in total (default %(default)s)")
    limits.add_argument("--max-per-peer", type=int, default=200,
                        help="player connections per peer address (default %(default)s)")
    limits.add_argument("--handshake-timeout", type=float, default=5.0,
                        help="seconds to complete the TLS handshake (default %(default)s)")
    limits.add_argument("--frame-timeout", type=float, default=10.0,
                        help="seconds to receive a whole frame once it began "
                             "(default %(default)s)")
    limits.add_argument("--idle-timeout", type=float, default=120.0,
                        help="seconds a connection may stay without a name (default %(default)s)")
    limits.add_argument("--max-rate", type=float, default=50.0,
                        help="messages a second per connection, bursts of twice that; more "
                             "are refused, and a flood disconnects (default %(default)s)")
    limits.add_argument("--outbox-kb", type=int, default=512,
                        help="KiB queued for a client that does not read before it is "
                             "disconnected (default %(default)s)")
    limits.add_argument("--resume-grace", type=float, default=30.0,
                        help="seconds a dropped player's seat is held for them to come back "
                             "(default %(default)s)")
    limits.add_argument("--wakeup", choices=sorted(wakeup.IMPLEMENTATIONS),
                        default=os.environ.get(wakeup.ENVIRONMENT, wakeup.DEFAULT),
                        help="how threads wake a connection's thread: gil-holding (measured "
                             "faster for large rooms) or portable (env GUESSNET_WAKEUP; "
                             "default %(default)s)")
    limits.add_argument("--heartbeat", type=float, default=10.0,
                        help="seconds between pings; 3 missed intervals drop the client "
                             "(default %(default)s)")
    tools = parser.add_argument_group("tools (the server is not started)")
    tools.add_argument("--replay", nargs="?", const=0, type=int, metavar="ID",
                       help="list the stored games, or replay game ID move by move")
    tools.add_argument("--issue-admin-cert", metavar="NAME",
                       help="write certs/admin-NAME.pem and .key for an admin on another host")
    args = parser.parse_args(argv)
    try:
        Rules(args.min, args.max, args.tries)
    except ValueError as exc:
        parser.error(str(exc))
    return args


def open_backends(args: argparse.Namespace) -> Backends:
    """Embedded backends, or Redis/memcached when asked (raises BackendError if unreachable)."""
    counters: Counters = MemoryCounters()
    if args.memcached:
        from storage.memcached_backend import MemcachedCounters
        counters = MemcachedCounters(args.memcached)
    if not args.redis:
        bus = MemoryBus()
        return Backends(store=SQLiteStore(args.data_dir / "guessnet.sqlite3"),
                        rooms=MemoryRoomStore(bus), bus=bus, counters=counters,
                        presence=MemoryPresence(args.presence_ttl))
    from storage import redis_backend
    client = redis_backend.connect(args.redis)
    return Backends(store=redis_backend.RedisStore(client),
                    rooms=redis_backend.RedisRoomStore(client),
                    bus=redis_backend.RedisBus(client), counters=counters,
                    presence=redis_backend.RedisPresence(client, args.presence_ttl))


def start(args: argparse.Namespace, backends: Backends) -> Runtime:
    """Create certificates if needed, bind both ports and serve them in background threads."""
    tlsconf.ensure_certs(args.certs, [args.host])
    paths = tlsconf.CertPaths(args.certs)
    servers: list[GameTCPServer] = []
    for address, handler in (((args.host, args.port), PlayerHandler),
                             ((args.admin_host, args.admin_port), AdminHandler)):
        try:
            servers.append(GameTCPServer(address, handler))
        except OSError as exc:
            for srv in servers:
                srv.server_close()
            reason = "port already in use (is another server.py running?)" \
                if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
            raise StartError(f"cannot listen on {address[0]}:{address[1]}: {reason}") from exc
    port = servers[0].server_address[1]
    instance = args.instance_id or f"{socket.gethostname()}:{port}"
    hub = Hub(Settings(rules=Rules(args.min, args.max, args.tries), instance=instance,
                       max_connections=args.max_connections, max_per_peer=args.max_per_peer,
                       resume_grace=args.resume_grace, idle_timeout=args.idle_timeout),
              backends)
    limits = Limits(handshake_timeout=args.handshake_timeout, frame_timeout=args.frame_timeout,
                    heartbeat=args.heartbeat if args.heartbeat > 0 else None,
                    rate=args.max_rate, burst=args.max_rate * 2,
                    outbox_bytes=args.outbox_kb * 1024)
    hub.matches = Matches(hub)
    try:
        backends.bus.start()
    except BackendError:
        for srv in servers:
            srv.server_close()
        hub.close()
        raise
    try:
        waker = wakeup.choose(args.wakeup)
    except WakeupUnavailable as exc:
        for srv in servers:
            srv.server_close()
        hub.close()
        raise StartError(str(exc)) from exc
    runtime = Runtime(hub, tlsconf.server_context(paths, require_client_cert=False),
                      tlsconf.server_context(paths, require_client_cert=True), limits, waker,
                      servers)
    for srv in servers:
        srv.runtime = runtime
    for srv in runtime.servers:
        thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2},
                                  name=f"listen-{srv.server_address[1]}", daemon=True)
        thread.start()
        runtime.threads.append(thread)
    return runtime


def stop(runtime: Runtime, grace: float = 3.0) -> None:
    """Stop accepting, tell everyone, let sessions finish (at most ``grace`` s), close ports."""
    hub = runtime.hub
    hub.shutting_down = True
    for srv in runtime.servers:
        srv.shutdown()
    bye = protocol.Bye(reason="shutdown", message="server shutting down")
    for member in list(hub.players.values()) + list(hub.admins.values()):
        member.conn.send(bye)
        member.conn.close("server shutting down")
    deadline = time.monotonic() + grace
    while (hub.players or hub.admins) and time.monotonic() < deadline:
        time.sleep(0.05)
    for srv in runtime.servers:
        srv.server_close()
    hub.close()


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def print_replay(args: argparse.Namespace) -> int:
    try:
        backends = open_backends(args)
    except BackendError as exc:
        print(f"cannot open storage: {exc}", file=sys.stderr)
        return 1
    hub = Hub(Settings(), backends)

    def show(title: str, columns: list[str], rows: list[list[object]]) -> None:
        print(render_table(title, columns, rows))

    try:
        if args.replay:
            send_replay(show, hub, args.replay)
        else:
            send_history(show, hub, 20, None)
    except Refused as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        hub.close()
        backends.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.replay is not None:
        return print_replay(args)
    if args.issue_admin_cert:
        name = args.issue_admin_cert
        tlsconf.ensure_certs(args.certs, [args.host])
        cert, key = args.certs / f"admin-{name}.pem", args.certs / f"admin-{name}.key"
        tlsconf.issue_client_cert(args.certs, name, tlsconf.ADMIN_ROLE, cert, key)
        print(f"wrote {cert} and {key}: copy them with {args.certs / 'ca.pem'} to the admin's "
              f"machine and run: python aclient.py --cert admin-{name}.pem "
              f"--key admin-{name}.key --cafile ca.pem --host SERVER")
        return 0
    logs.setup(args.log_dir / "server.log", args.verbose)
    raise_fd_limit()
    try:
        backends = open_backends(args)
    except BackendError as exc:
        print(f"cannot start: {exc}", file=sys.stderr)
        return 1
    try:
        runtime = start(args, backends)
    except StartError as exc:
        print(exc, file=sys.stderr)
        backends.close()
        return 1
    except BackendError as exc:
        print(f"cannot start: {exc}", file=sys.stderr)
        backends.close()
        return 1
    games = backends.store.count_games()
    line = (f"guessnet listening: players on {args.host}:{runtime.player_port} (TLS), "
            f"admin on {args.admin_host}:{runtime.admin_port} (TLS)")
    print(line, flush=True)
    print(f"{games} games on record; certificates in {args.certs}; log in "
          f"{args.log_dir / 'server.log'}. Ctrl-C stops.", flush=True)
    log("CONNECTION", line + f"; {games} games on record")

    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stopping.is_set():
            print("\nforced exit", file=sys.stderr, flush=True)
            os._exit(1)
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    while not stopping.wait(1.0):
        pass
    print("shutting down: telling clients...", flush=True)
    stop(runtime)
    backends.close()
    log("CONNECTION", "server stopped")
    print("stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
