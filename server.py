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
from typing import Any

import protocol
from guessnet import logs, tlsconf, wakeup, workers
from guessnet.admin import AdminSession
from guessnet.conn import Connection, HandshakeFailed, tls_handshake
from guessnet.errors import Refused
from guessnet.files import private_folder, private_umask
from guessnet.listings import send_history, send_replay
from guessnet.logs import escape, log
from guessnet.options import open_backends, open_store, parse_args, rules_of
from guessnet.pacing import Limits
from guessnet.player import PlayerSession
from guessnet.registry import Admission
from guessnet.render import render_table
from guessnet.rooms import SecretSource
from guessnet.scoreboard import Scoreboard
from guessnet.services import Backends, Services, Settings, build
from guessnet.wakeup import Wakeup, WakeupUnavailable
from guessnet.web import WebServer, WebSite
from storage.base import BackendError

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
    """Everything the handlers share: the services, TLS contexts and limits."""

    services: Services
    player_context: ssl.SSLContext
    admin_context: ssl.SSLContext
    limits: Limits
    wakeup: Wakeup
    servers: list[GameTCPServer] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)
    web: WebServer | None = None

    @property
    def player_port(self) -> int:
        return int(self.servers[0].server_address[1])

    @property
    def admin_port(self) -> int:
        return int(self.servers[1].server_address[1])

    @property
    def web_port(self) -> int | None:
        return None if self.web is None else int(self.web.server_address[1])


def _wire_logger(peer: str) -> object:
    if not logs.wire_enabled():
        return None
    return lambda direction, data: logs.wire(direction, peer, data.decode("utf-8", "replace"))


class GameTCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """A listening port: threads per connection, reusable address, large backlog.

    At most ``handshakes`` TLS handshakes run at once (OpenSSH's ``MaxStartups``): the
    listener accepts a connection only when a slot is free, so an arrival burst waits in the
    kernel's listen backlog instead of starting thousands of handshakes that all miss their
    deadline together; the handler frees its slot when its handshake ends, however it ends."""

    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    request_queue_size = 4096  # the kernel caps it at net.core.somaxconn

    runtime: Runtime  # set once both ports are bound

    def __init__(self, address: tuple[str, int],
                 handler: type[socketserver.BaseRequestHandler], handshakes: int = 64,
                 reuse_port: bool = False) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.allow_reuse_port = reuse_port  # --workers: every worker listens on the port
        self._slots = threading.BoundedSemaphore(handshakes)
        self._closing = threading.Event()
        super().__init__(address, handler)

    def get_request(self) -> tuple[Any, Any]:
        while not self._slots.acquire(timeout=0.2):  # full: leave the rest in the backlog
            if self._closing.is_set():
                raise OSError("the port is closing")
        try:
            return super().get_request()
        except BaseException:
            self._slots.release()
            raise

    def process_request(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.handshake_done()
            raise

    def handshake_done(self) -> None:
        """The handshake of an accepted connection ended: its slot is free."""
        self._slots.release()

    def shutdown(self) -> None:
        self._closing.set()
        super().shutdown()

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
        refusal = runtime.services.registry.admit(host)
        try:
            tls = tls_handshake(self.request, runtime.player_context, server_side=True,
                                timeout=runtime.limits.handshake_timeout)
        except HandshakeFailed as exc:
            self.server.handshake_done()
            runtime.services.metrics.handshake_failures.labels("player").inc()
            log("CONNECTION", f"{peer} TLS handshake failed: {escape(exc)}")
            if refusal is None:
                runtime.services.registry.release(host)
            return
        self.server.handshake_done()
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
            PlayerSession(runtime.services, conn, peer).serve()
        finally:
            runtime.services.registry.release(host)


class AdminHandler(socketserver.BaseRequestHandler):
    server: GameTCPServer

    def handle(self) -> None:
        runtime = self.server.runtime
        peer = peer_text(self.client_address)
        try:
            tls = tls_handshake(self.request, runtime.admin_context, server_side=True,
                                timeout=runtime.limits.handshake_timeout)
        except HandshakeFailed as exc:
            self.server.handshake_done()
            runtime.services.metrics.handshake_failures.labels("admin").inc()
            log("CONNECTION", f"admin port: {peer} refused: {escape(exc)}")
            return
        self.server.handshake_done()
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
        AdminSession(runtime.services, conn, peer, holder).serve()


def listen(args: argparse.Namespace) -> tuple[list[GameTCPServer], WebServer | None]:
    """Bind the player and admin ports, and the web port unless it is off (``StartError``
    saying which port failed, with every port bound so far closed)."""
    wanted: list[tuple[str, int]] = [(args.host, args.port), (args.admin_host, args.admin_port)]
    if args.web_port:
        wanted.append((args.web_host, args.web_port))
    bound: list[socketserver.TCPServer] = []
    for i, address in enumerate(wanted):
        try:
            bound.append(GameTCPServer(address, (PlayerHandler, AdminHandler)[i],
                                       args.max_handshakes, args.reuse_port) if i < 2
                         else WebServer(address, args.reuse_port))
        except OSError as exc:
            for srv in bound:
                srv.server_close()
            reason = "port already in use (is another server.py running?)" \
                if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
            raise StartError(f"cannot listen on {address[0]}:{address[1]}: {reason}") from exc
    games = [srv for srv in bound if isinstance(srv, GameTCPServer)]
    web = next((srv for srv in bound if isinstance(srv, WebServer)), None)
    return games, web


def start(args: argparse.Namespace, backends: Backends,
          secrets: SecretSource | None = None) -> Runtime:
    """Create certificates if needed, bind the ports, build and start the services, and
    serve every port in background threads; ``secrets`` replaces the CSPRNG (tests)."""
    for made in tlsconf.ensure_certs(args.certs, [args.host, *args.cert_name]):
        log("CONNECTION", f"certificate written: {made}")
    paths = tlsconf.CertPaths(args.certs)
    servers, web = listen(args)
    port = servers[0].server_address[1]
    instance = args.instance_id or f"{socket.gethostname()}:{port}"
    settings = Settings(rules=rules_of(args), instance=instance,
                        admission=Admission(args.max_connections, args.max_per_peer),
                        resume_grace=args.resume_grace, idle_timeout=args.idle_timeout,
                        hash_workers=args.hash_workers, data_dir=args.data_dir)
    limits = Limits(handshake_timeout=args.handshake_timeout, frame_timeout=args.frame_timeout,
                    heartbeat=args.heartbeat if args.heartbeat > 0 else None,
                    rate=args.max_rate, burst=args.max_rate * 2,
                    outbox_bytes=args.outbox_kb * 1024)
    try:
        waker = wakeup.choose(args.wakeup)
        services = build(settings, backends, waker, secrets)
        services.start()
    except (WakeupUnavailable, BackendError) as exc:
        for srv in [*servers, *([web] if web else [])]:
            srv.server_close()
        raise StartError(f"cannot start: {exc}") from exc
    runtime = Runtime(services, tlsconf.server_context(paths, require_client_cert=False),
                      tlsconf.server_context(paths, require_client_cert=True), limits, waker,
                      servers, web=web)
    for srv in servers:
        srv.runtime = runtime
    if web is not None:
        web.site = web_site(args, runtime, paths)
    for listener in [*servers, *([web] if web else [])]:
        thread = threading.Thread(target=listener.serve_forever, kwargs={"poll_interval": 0.2},
                                  name=f"listen-{listener.server_address[1]}", daemon=True)
        thread.start()
        runtime.threads.append(thread)
    return runtime


def web_site(args: argparse.Namespace, runtime: Runtime, paths: tlsconf.CertPaths) -> WebSite:
    """What the web port shows, and to whom (the scoreboard, how to join, metrics)."""
    services = runtime.services
    host = args.host
    if host in tlsconf.ANY_ADDRESS:  # the join page names an address players can reach
        host = next((a for a in tlsconf.local_addresses() if not a.startswith(("127.", "::1"))),
                    socket.gethostname())
    return WebSite(
        scoreboard=Scoreboard(services.rooms, services.registry, services.store),
        metrics=services.metrics, ca_file=paths.ca, player_host=host,
        player_port=runtime.player_port,
        metrics_hosts=None if args.metrics_public else frozenset([args.admin_host]),
        context=None if args.web_plain else runtime.player_context,
        handshake_timeout=args.handshake_timeout)


def stop(runtime: Runtime, grace: float = 3.0) -> None:
    """Stop accepting, tell everyone, let sessions finish (at most ``grace`` s), close ports."""
    registry = runtime.services.registry
    registry.shutting_down = True
    for srv in runtime.servers:
        srv.shutdown()
    if runtime.web is not None:
        runtime.web.shutdown()
        runtime.web.site.scoreboard.close()
        runtime.web.server_close()
    bye = protocol.Bye(reason="shutdown", message="server shutting down")
    for member in [*registry.players(), *registry.admins()]:
        member.conn.send(bye)
        member.conn.close("server shutting down")
    deadline = time.monotonic() + grace
    while (registry.players() or registry.admins()) and time.monotonic() < deadline:
        time.sleep(0.05)
    for srv in runtime.servers:
        srv.server_close()
    runtime.services.close()


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def print_replay(args: argparse.Namespace) -> int:
    try:
        store = open_store(args)
    except BackendError as exc:
        print(f"cannot open storage: {exc}", file=sys.stderr)
        return 1

    def show(title: str, columns: list[str], rows: list[list[object]]) -> None:
        print(render_table(title, columns, rows))

    try:
        if args.replay:
            send_replay(show, store, args.replay)
        else:
            send_history(show, store, 20, None)
    except Refused as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        store.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.workers > 1 and args.replay is None and not args.issue_admin_cert:
        return workers.run(args, argv)
    if args.replay is not None:
        return print_replay(args)
    if args.issue_admin_cert:
        name = args.issue_admin_cert
        tlsconf.ensure_certs(args.certs, [args.host, *args.cert_name])
        cert, key = args.certs / f"admin-{name}.pem", args.certs / f"admin-{name}.key"
        tlsconf.issue_client_cert(args.certs, name, tlsconf.ADMIN_ROLE, cert, key)
        print(f"wrote {cert} and {key}: copy them with {args.certs / 'ca.pem'} to the admin's "
              f"machine and run: python aclient.py --cert admin-{name}.pem "
              f"--key admin-{name}.key --cafile ca.pem --host SERVER")
        return 0
    private_umask()
    logs.setup(private_folder(args.log_dir) / "server.log", args.verbose)
    private_folder(args.data_dir)  # the SQLite database, or the journal beside Redis
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
    games = backends.store.count_games()
    line = (f"guessnet listening: players on {args.host}:{runtime.player_port} (TLS), "
            f"admin on {args.admin_host}:{runtime.admin_port} (TLS)")
    if runtime.web_port is not None:
        scheme = "http" if args.web_plain else "https"
        line += f", scoreboard on {scheme}://{args.web_host}:{runtime.web_port}/"
        if args.web_plain:
            print("warning: --web-plain serves the web port without TLS: anyone on the "
                  "network can read or alter the page (it holds nothing secret)",
                  file=sys.stderr, flush=True)
    print(line, flush=True)
    print(f"{games} games on record; certificates in {args.certs}; log in "
          f"{args.log_dir / 'server.log'}. Ctrl-C stops.", flush=True)
    log("CONNECTION", line + f"; {games} games on record")
    names = ", ".join(str(n.value) for n in tlsconf.certificate_names(
        tlsconf.CertPaths(args.certs).server))
    print(f"Players connect to one of the names the certificate carries: {names} "
          "(--cert-name adds one).", flush=True)

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
