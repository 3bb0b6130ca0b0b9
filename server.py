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
import os
import resource
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import protocol
from guessnet import logs, tlsconf, wakeup, workers
from guessnet.admin import AdminSession
from guessnet.conn import Connection, HandshakeFailed
from guessnet.errors import Refused
from guessnet.files import FolderError, private_folder, private_umask
from guessnet.gate import GateLimits
from guessnet.listener import GameTCPServer
from guessnet.listings import send_history, send_replay
from guessnet.logs import audit, escape, log, noisy
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


def handshake(server: GameTCPServer, request: socket.socket, context: ssl.SSLContext,
              port: str, peer: str) -> ssl.SSLSocket:
    """The TLS handshake of a connection ``server`` accepted, through its gate; a failure is
    counted and logged (summarised per address: a flood writes a line a minute, not a line a
    connection), then raised."""
    runtime: Runtime = server.runtime
    try:
        return server.admittance.handshake(server.arrival(request), request, context,
                                           hello_timeout=runtime.limits.hello_timeout,
                                           timeout=runtime.limits.handshake_timeout)
    except HandshakeFailed as exc:
        shed = str(exc).startswith("shed")
        (runtime.services.metrics.handshakes_shed if shed else
         runtime.services.metrics.handshake_failures).labels(port).inc()
        host = peer.rsplit(":", 1)[0]
        if port == "admin":  # no certificate, or one from another CA: a security event
            noisy(f"handshake admin {host}", "ADMIN", f"admin port: {peer} refused: "
                  f"{escape(exc)}", audit_event=True)
        else:
            noisy(f"handshake {port} {host}", "CONNECTION",
                  f"{port} port: {peer} TLS handshake failed: {escape(exc)}")
        raise


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
            tls = handshake(self.server, self.request, runtime.player_context, "player", peer)
        except HandshakeFailed:
            if refusal is None:
                runtime.services.registry.release(host)
            return
        conn = Connection(tls, accepted=protocol.PLAYER_TO_SERVER, limits=runtime.limits,
                          peer=peer, on_wire=_wire_logger(peer),  # type: ignore[arg-type]
                          wakeup=runtime.wakeup)
        if refusal is not None:
            noisy(f"refused {host}", "CONNECTION", f"{peer} refused: {refusal}")
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
            tls = handshake(self.server, self.request, runtime.admin_context, "admin", peer)
        except HandshakeFailed:
            return
        cert = tls.getpeercert()
        role = tlsconf.subject_field(cert, "organizationalUnitName")
        holder = tlsconf.subject_field(cert, "commonName") or "?"
        conn = Connection(tls, accepted=protocol.ADMIN_TO_SERVER, limits=runtime.limits,
                          peer=peer, on_wire=_wire_logger(peer),  # type: ignore[arg-type]
                          wakeup=runtime.wakeup)
        if role != tlsconf.ADMIN_ROLE:
            audit("ADMIN", f"admin port: {peer} refused: certificate of "
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
    gate = GateLimits.scaled(args.max_handshakes, args.max_handshakes_per_peer)
    for i, address in enumerate(wanted):
        try:
            bound.append(GameTCPServer(address, (PlayerHandler, AdminHandler)[i], gate,
                                       args.reuse_port) if i < 2
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
    try:
        made = tlsconf.ensure_certs(args.certs, [args.host, *args.cert_name])
    except OSError as exc:
        raise StartError(f"cannot use {args.certs} as the certificate folder: "
                         f"{(exc.strerror or str(exc)).lower()} (choose another with --certs)"
                         ) from exc
    for path in made:
        log("CONNECTION", f"certificate written: {path}")
    paths = tlsconf.CertPaths(args.certs)
    servers, web = listen(args)
    port = servers[0].server_address[1]
    instance = args.instance_id or f"{socket.gethostname()}:{port}"
    settings = Settings(rules=rules_of(args), instance=instance,
                        admission=Admission(args.max_connections, args.max_per_peer),
                        resume_grace=args.resume_grace, idle_timeout=args.idle_timeout,
                        hash_workers=args.hash_workers, data_dir=args.data_dir)
    limits = Limits(handshake_timeout=args.handshake_timeout, hello_timeout=args.hello_timeout,
                    frame_timeout=args.frame_timeout,
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
    try:
        logs.setup(private_folder(args.log_dir, "log folder", "--log-dir") / "server.log",
                   args.verbose)
        # the SQLite database, or the journal beside Redis
        private_folder(args.data_dir, "data folder", "--data-dir")
    except FolderError as exc:
        print(exc, file=sys.stderr)
        return 1
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
