"""What a running server is made of, and the handlers of its two game ports.

``Runtime`` holds what every handler shares: the services, the TLS contexts, the limits, and
the listeners.  ``PlayerHandler`` and ``AdminHandler`` are the ``socketserver`` handlers of the
player and admin ports: in the connection's own thread they take the TLS handshake through the
port's gate (``guessnet.net.listener``), then run the connection's session to its end.
"""

from __future__ import annotations

import socket
import socketserver
import ssl
import threading
from dataclasses import dataclass, field, replace

from guessnet import wire
from guessnet.net import tlsconf
from guessnet.net.conn import Connection, HandshakeFailed
from guessnet.net.listener import GameTCPServer
from guessnet.net.pacing import Limits
from guessnet.net.wakeup import Wakeup
from guessnet.services.composition import Services
from guessnet.services.moderation import until_text
from guessnet.sessions.admin_session import AdminSession
from guessnet.sessions.player_session import PlayerKit, PlayerSession
from guessnet.support import logs
from guessnet.support.logs import audit, escape, noisy
from guessnet.web.site import WebServer
from guessnet.wire.closing import Close

SEND_BUFFER = 128 * 1024
ADMIN_OUTBOX = 16 * 1024 * 1024  # bytes an admin's connection may have queued


@dataclass
class Runtime:
    """Everything the handlers share: the services, TLS contexts and limits."""

    services: Services
    player_context: ssl.SSLContext
    admin_context: ssl.SSLContext
    limits: Limits
    wakeup: Wakeup
    kit: PlayerKit
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


def peer_text(address: tuple[str, int] | tuple[str, int, int, int]) -> str:
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


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
        conn = Connection(tls, accepted=wire.PLAYER_TO_SERVER, limits=runtime.limits,
                          peer=peer, on_wire=_wire_logger(peer),  # type: ignore[arg-type]
                          wakeup=runtime.wakeup)
        banned = runtime.services.moderation.address_ban(host)
        if refusal is not None or banned is not None:
            if banned is not None:  # told why and until when, then closed
                noisy(f"banned {host}", "ADMIN", f"{peer} refused: the address is banned",
                      audit_event=True)
                conn.send(wire.Bye(reason=Close.BANNED.value, message="this address is "
                                   f"banned by the host {until_text(banned)}"))
                conn.close(Close.BANNED)
            else:
                noisy(f"refused {host}", "CONNECTION", f"{peer} refused: {refusal}")
                conn.send(wire.Error(code="server_full", message=refusal or ""))
                conn.close(Close.REFUSED)
            conn.run(lambda msg: None, lambda exc: None)
            if refusal is None:
                runtime.services.registry.release(host)
            return
        try:
            PlayerSession(runtime.services, runtime.kit, conn, peer).serve()
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
        # an admin (mutual TLS: trusted) may ask for a big export at once
        limits = replace(runtime.limits, outbox_bytes=max(ADMIN_OUTBOX,
                                                          runtime.limits.outbox_bytes))
        conn = Connection(tls, accepted=wire.ADMIN_TO_SERVER, limits=limits,
                          peer=peer, on_wire=_wire_logger(peer),  # type: ignore[arg-type]
                          wakeup=runtime.wakeup)
        if role != tlsconf.ADMIN_ROLE:
            audit("ADMIN", f"admin port: {peer} refused: certificate of "
                  f"{escape(holder)} is for role {escape(role)!r}, not admin")
            conn.send(wire.Bye(reason=Close.REFUSED.value,
                                   message="this certificate is not issued for the admin role"))
            conn.close(Close.REFUSED)
            conn.run(lambda msg: None, lambda exc: None)
            return
        AdminSession(runtime.services, conn, peer, holder).serve()
