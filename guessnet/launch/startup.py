"""Starting and stopping a server: bind the ports, build the services, serve, stop politely."""

from __future__ import annotations

import argparse
import errno
import socket
import socketserver
import threading
import time

from guessnet import wire
from guessnet.launch import certificates
from guessnet.launch.options import rules_of
from guessnet.launch.runtime import AdminHandler, PlayerHandler, Runtime
from guessnet.net import tlsconf, wakeup
from guessnet.net.gate import GateLimits
from guessnet.net.listener import GameTCPServer
from guessnet.net.pacing import Limits
from guessnet.net.wakeup import WakeupUnavailable
from guessnet.services.composition import Backends, Settings, build
from guessnet.services.registry import Admission
from guessnet.services.rooms import SecretSource
from guessnet.services.wordfilter import FilterFileError, WordFilter
from guessnet.sessions.handover import Handover
from guessnet.sessions.player_kit import player_kit
from guessnet.storage.base import BackendError
from guessnet.support.logs import log
from guessnet.web.join import Joining, url_host
from guessnet.web.scoreboard import Scoreboard
from guessnet.web.site import WebServer, WebSite
from guessnet.wire.closing import Close


class StartError(Exception):
    """The server cannot start: a port could not be bound, or an option does not work on this
    platform; the message names it and says why."""


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


def word_filter(args: argparse.Namespace) -> WordFilter | None:
    """The host's word filter (``--word-filter``), or ``StartError`` saying what is wrong."""
    if args.word_filter is None:
        return None
    try:
        return WordFilter.load(args.word_filter)
    except FilterFileError as exc:
        raise StartError(str(exc)) from None


def start(args: argparse.Namespace, backends: Backends,
          secrets: SecretSource | None = None) -> Runtime:
    """Create certificates if needed, bind the ports, build and start the services, and
    serve every port in background threads; ``secrets`` replaces the CSPRNG (tests)."""
    words = word_filter(args)  # before any port is bound: a bad file is one line
    try:
        made = certificates.ensure_certs(args.certs, [args.host, *args.cert_name])
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
                        hash_workers=args.hash_workers, data_dir=args.data_dir,
                        word_filter=words)
    limits = Limits(handshake_timeout=args.handshake_timeout, hello_timeout=args.hello_timeout,
                    frame_timeout=args.frame_timeout,
                    heartbeat=args.heartbeat if args.heartbeat > 0 else None,
                    rate=args.max_rate, burst=args.max_rate * 2,
                    outbox_bytes=args.outbox_kb * 1024)
    try:
        waker = wakeup.choose(args.wakeup)
        services = build(settings, backends, waker, secrets)
        services.start()
        kit = player_kit(settings.resume_grace)
        kit.seats_elsewhere = Handover(services, kit)
        kit.resume.start()
    except (WakeupUnavailable, BackendError) as exc:
        for srv in [*servers, *([web] if web else [])]:
            srv.server_close()
        raise StartError(f"cannot start: {exc}") from exc
    runtime = Runtime(services, tlsconf.server_context(paths, require_client_cert=False),
                      tlsconf.server_context(paths, require_client_cert=True), limits, waker,
                      kit, servers, web=web)
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


def reachable(host: str) -> str:
    """The address players use for a port listening on ``host``: for every interface
    (0.0.0.0, ::), this machine's address on its network."""
    if host not in tlsconf.ANY_ADDRESS:
        return host
    return next((a for a in tlsconf.local_addresses() if not a.startswith(("127.", "::1"))),
                socket.gethostname())


def web_site(args: argparse.Namespace, runtime: Runtime, paths: tlsconf.CertPaths) -> WebSite:
    """What the web port shows, and to whom (the scoreboard, how to join, metrics)."""
    services = runtime.services
    scheme = "http" if args.web_plain else "https"
    web_port = runtime.web_port
    join_url = f"{scheme}://{url_host(reachable(args.web_host))}:{web_port}/join"
    return WebSite(
        scoreboard=Scoreboard(services.rooms, services.registry, services.store),
        metrics=services.metrics,
        joining=Joining(reachable(args.host), runtime.player_port, join_url, paths.ca),
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
    bye = wire.Bye(reason=Close.SHUTDOWN.value, message="server shutting down")
    for member in [*registry.players(), *registry.admins()]:
        member.conn.send(bye)
        member.conn.close(Close.SHUTDOWN)
    deadline = time.monotonic() + grace
    while (registry.players() or registry.admins()) and time.monotonic() < deadline:
        time.sleep(0.05)
    for srv in runtime.servers:
        srv.server_close()
    runtime.kit.resume.close()
    runtime.services.close()
