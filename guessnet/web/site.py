"""The web port: the scoreboard page, how to join, and metrics, over HTTPS (or plain HTTP).

A stdlib ``ThreadingHTTPServer`` like the game ports: one thread per connection, the TLS
handshake in that thread.  What a client may hold, and for how long:

* its whole request (the TLS handshake, the request line and every header) within one
  deadline from accept (``REQUEST_DEADLINE``) and one byte budget (``HEAD_BUDGET``): a
  client that drips bytes is closed at the deadline (``408``), one that sends more gets
  ``431``, however it spreads them over lines;
* at most ``MAX_CONNECTIONS`` connections open and ``MAX_PER_ADDRESS`` from one address
  (``guessnet.gate.address_key``); a newcomer past either bound sheds a connection still
  sending its request (a slowloris) from its own address or from the address holding the
  most (``guessnet.webconns``), else it is closed at once; requests are answered in
  milliseconds, so what is shed is the slow;
* event streams count apart: at most ``MAX_STREAMS`` and ``MAX_STREAMS_PER_ADDRESS``
  (``503`` beyond).

Routes:

* ``/`` the scoreboard (``guessnet/web/``: HTML, CSS, one script; no build step, no CDN);
* ``/events`` Server-Sent Events: the scoreboard's snapshot as ``state`` events, a comment
  every ``KEEPALIVE`` seconds, and ``retry`` so that a browser reconnects by itself;
* ``/join`` how to install the client and connect, ``/join.svg`` its QR code (shown on the
  scoreboard), ``/guessnet-play.pyz`` the client in one file and ``/ca.pem`` to download;
* ``/metrics`` Prometheus text, to the admin host only unless ``--metrics-public``.

Only GET and HEAD are served; every answer carries a status line and the security headers
(HTTP/0.9 requests are refused with ``400``).  The page holds nothing secret.
"""

from __future__ import annotations

import io
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from guessnet.net.conn import HandshakeFailed, tls_handshake
from guessnet.net.gate import address_key
from guessnet.services.metrics import CONTENT_TYPE as METRICS_TYPE
from guessnet.services.metrics import Metrics
from guessnet.support.logs import escape, noisy
from guessnet.web.bundle import FILENAME
from guessnet.web.connections import HeadTooLarge, WebConnections, WebEntry, linger, read_head
from guessnet.web.join import Joining
from guessnet.web.scoreboard import Scoreboard

ASSETS = Path(__file__).resolve().parent / "assets"
STATIC = {"/app.js": ("app.js", "text/javascript; charset=utf-8"),
          "/style.css": ("style.css", "text/css; charset=utf-8")}
REQUEST_DEADLINE = 10.0  # seconds from accept to a whole request (handshake included)
HEAD_BUDGET = 16 * 1024  # bytes of request line and headers together
LINGER = 1.0  # seconds a refused client may finish sending, so that it reads the refusal
KEEPALIVE = 15.0      # seconds between two comments on a quiet event stream
RETRY_MS = 1000       # how soon a browser reconnects a lost event stream
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass
class WebSite:
    """What the pages need: the scoreboard, metrics, the CA file, and how players connect."""

    scoreboard: Scoreboard
    metrics: Metrics
    joining: Joining
    metrics_hosts: frozenset[str] | None  # None: metrics for everyone (--metrics-public)
    context: ssl.SSLContext | None        # None: plain HTTP (--web-plain)
    handshake_timeout: float


class WebServer(ThreadingHTTPServer):
    """The listener: see the module docstring."""

    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    request_queue_size = 256

    site: WebSite  # set once the services it shows are started

    def __init__(self, address: tuple[str, int], reuse_port: bool = False) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.allow_reuse_port = reuse_port
        self.connections = WebConnections()
        self._arrivals: dict[socket.socket, WebEntry] = {}
        self._entries: dict[socket.socket, WebEntry] = {}  # by the socket the handler gets
        super().__init__(address, WebHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        entry = self.connections.arrive(address_key(client_address[0]), request,
                                        time.monotonic())
        if entry is None:
            self.shutdown_request(request)  # full of requests being answered: no thread
            return
        self._arrivals[request] = entry
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._arrivals.pop(request, None)
            self.connections.leave(entry)
            raise

    def finish_request(self, request: Any, client_address: Any) -> None:
        """In the connection's own thread: the TLS handshake, then the HTTP exchange."""
        entry = self._arrivals.pop(request)
        site = self.site
        sock: socket.socket = request
        try:
            if site.context is not None:
                try:
                    sock = tls_handshake(request, site.context, server_side=True,
                                         timeout=min(site.handshake_timeout,
                                                     REQUEST_DEADLINE))
                except HandshakeFailed as exc:
                    site.metrics.handshake_failures.labels("web").inc()
                    noisy(f"handshake web {client_address[0]}", "CONNECTION",
                          f"web: {escape(client_address[0])} TLS handshake failed: "
                          f"{escape(exc)}")
                    return
                self.connections.rebind(entry, sock)
            sock.setblocking(True)
            self._entries[sock] = entry
            try:
                WebHandler(sock, client_address, self)
            finally:
                self._entries.pop(sock, None)
        finally:
            self.connections.leave(entry)
            if sock is not request:
                try:
                    sock.close()
                except OSError:
                    pass

    def entry_of(self, sock: socket.socket) -> WebEntry:
        return self._entries[sock]

    def handle_error(self, request: Any, client_address: Any) -> None:
        noisy(f"web error {client_address[0]}", "ERROR",
              f"web: request from {escape(client_address[0])} failed")


class WebHandler(BaseHTTPRequestHandler):
    server: WebServer
    server_version = "guessnet"
    sys_version = ""
    protocol_version = "HTTP/1.0"  # one request per connection; a stream ends at close
    default_request_version = "HTTP/1.0"  # an error before the version is read has a status

    def log_message(self, format: str, *args: Any) -> None:
        pass  # requests are not logged: the page is public and polled by nobody

    def handle(self) -> None:
        """Read the whole request head within the deadline and budget, then answer it."""
        entry = self.server.entry_of(self.request)
        self.requestline, self.command = "", ""  # what an early error answer reads
        self.request_version = self.default_request_version
        try:
            head = read_head(self.connection, entry.arrived + REQUEST_DEADLINE, HEAD_BUDGET)
        except HeadTooLarge:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                            f"the request line and headers exceed {HEAD_BUDGET} bytes")
            self.wfile.flush()
            linger(self.connection, time.monotonic() + LINGER)
            return
        except TimeoutError:
            self.send_error(HTTPStatus.REQUEST_TIMEOUT,
                            f"the request did not arrive within {REQUEST_DEADLINE:g} s")
            return
        except (OSError, EOFError):
            return  # it went away (or was shed) before it finished asking
        self.server.connections.answering(entry)
        self.rfile = io.BytesIO(head)
        self.connection.settimeout(REQUEST_DEADLINE)  # for writing the answer
        self.handle_one_request()

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        if len(self.requestline.split()) != 3:
            self.send_error(HTTPStatus.BAD_REQUEST, "HTTP/0.9 requests are not served: "
                            "send 'GET / HTTP/1.1'")
            return False
        return True

    def end_headers(self) -> None:
        for key, value in SECURITY_HEADERS.items():  # every answer, errors included
            self.send_header(key, value)
        super().end_headers()

    def do_HEAD(self) -> None:
        self.do_GET(body=False)

    def do_GET(self, body: bool = True) -> None:
        path = self.path.split("?", 1)[0]
        site = self.server.site
        if path in STATIC:
            name, kind = STATIC[path]
            self.reply(HTTPStatus.OK, kind, (ASSETS / name).read_bytes(), body)
        elif path == "/events":
            self.events()
        elif path in ("/", "/index.html"):
            self.reply(HTTPStatus.OK, "text/html; charset=utf-8", site.joining.scoreboard(
                (ASSETS / "index.html").read_text(encoding="utf-8")), body)
        elif path == "/join":
            self.reply(HTTPStatus.OK, "text/html; charset=utf-8", site.joining.page(), body)
        elif path == "/join.svg":
            self.reply(HTTPStatus.OK, "image/svg+xml", site.joining.qr_svg(), body)
        elif path == f"/{FILENAME}":
            self.reply(HTTPStatus.OK, "application/zip", site.joining.bundle.get().data, body,
                       {"Content-Disposition": f'attachment; filename="{FILENAME}"'})
        elif path == "/ca.pem":
            self.reply(HTTPStatus.OK, "application/x-pem-file",
                       site.joining.ca_file.read_bytes(), body,
                       {"Content-Disposition": 'attachment; filename="ca.pem"'})
        elif path == "/metrics":
            if site.metrics_hosts is not None and \
                    not allowed(self.client_address[0], site.metrics_hosts):
                self.reply(HTTPStatus.FORBIDDEN, "text/plain; charset=utf-8",
                           b"metrics are served to the admin host only (the server's "
                           b"--metrics-public serves them to everyone)\n", body)
                return
            self.reply(HTTPStatus.OK, METRICS_TYPE, site.metrics.exposition(), body)
        else:
            self.reply(HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8",
                       b"not found: the scoreboard is at /, how to join at /join\n", body)

    def reply(self, status: HTTPStatus, kind: str, data: bytes, body: bool = True,
              extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if body:
            self.wfile.write(data)

    def events(self) -> None:
        """The snapshot now, then each new one, until the browser goes away."""
        connections, entry = self.server.connections, self.server.entry_of(self.request)
        if not connections.stream(entry):
            self.send_error(HTTPStatus.SERVICE_UNAVAILABLE, "too many scoreboard streams are "
                            "open: close a scoreboard tab, or try again later")
            return
        self.connection.settimeout(KEEPALIVE * 2)  # a browser that stops reading is dropped
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        scoreboard = self.server.site.scoreboard
        seen = 0
        try:
            self.wfile.write(f"retry: {RETRY_MS}\n\n".encode())
            self.wfile.flush()
            while True:
                news = scoreboard.watch(seen, KEEPALIVE)
                if news is None:
                    self.wfile.write(b": still here\n\n")
                else:
                    seen, text = news
                    self.wfile.write(f"event: state\ndata: {text}\n\n".encode())
                self.wfile.flush()
        except (OSError, ValueError):
            return  # the page was closed or reloaded


def allowed(address: str, hosts: frozenset[str]) -> bool:
    """Whether ``address`` is loopback or one of ``hosts`` (the admin host)."""
    try:
        ip = ipaddress.ip_address(address.removeprefix("::ffff:"))
    except ValueError:
        return False
    return ip.is_loopback or str(ip) in hosts
