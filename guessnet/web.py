"""The web port: the scoreboard page, how to join, and metrics, over HTTPS (or plain HTTP).

A stdlib ``ThreadingHTTPServer`` like the game ports: one thread per connection, the TLS
handshake in that thread under the same deadline, at most ``MAX_CONNECTIONS`` at once (more are
closed at accept, so a flood of idle sockets costs threads only up to that cap).  Every read
has a timeout; request lines and headers are bounded by ``http.server`` (64 KiB a line, 100
headers).  Routes:

* ``/`` the scoreboard (``guessnet/web/``: HTML, CSS, one script; no build step, no CDN);
* ``/events`` Server-Sent Events: the scoreboard's snapshot as ``state`` events, a comment
  every ``KEEPALIVE`` seconds, and ``retry`` so that a browser reconnects by itself;
* ``/join`` how to install the client and connect, and ``/ca.pem`` to download;
* ``/metrics`` Prometheus text, to the admin host only unless ``--metrics-public``.

Only GET and HEAD are served; the page holds nothing secret (no addresses, no tokens).
"""

from __future__ import annotations

import html
import ipaddress
import socket
import ssl
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from guessnet.conn import HandshakeFailed, tls_handshake
from guessnet.logs import escape, log
from guessnet.metrics import CONTENT_TYPE as METRICS_TYPE
from guessnet.metrics import Metrics
from guessnet.scoreboard import Scoreboard

ASSETS = Path(__file__).resolve().parent / "web"
STATIC = {"/": ("index.html", "text/html; charset=utf-8"),
          "/app.js": ("app.js", "text/javascript; charset=utf-8"),
          "/style.css": ("style.css", "text/css; charset=utf-8")}
MAX_CONNECTIONS = 512
READ_TIMEOUT = 10.0   # seconds a client may take to send its request
KEEPALIVE = 15.0      # seconds between two comments on a quiet event stream
RETRY_MS = 1000       # how soon a browser reconnects a lost event stream
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@dataclass
class WebSite:
    """What the pages need: the scoreboard, metrics, the CA file, and how players connect."""

    scoreboard: Scoreboard
    metrics: Metrics
    ca_file: Path
    player_host: str
    player_port: int
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
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(address, WebHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)  # full: closed at once, no thread
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def finish_request(self, request: Any, client_address: Any) -> None:
        """In the connection's own thread: the TLS handshake, then the HTTP exchange."""
        site = self.site
        if site.context is None:
            request.settimeout(READ_TIMEOUT)
            WebHandler(request, client_address, self)
            return
        try:
            tls = tls_handshake(request, site.context, server_side=True,
                                timeout=site.handshake_timeout)
        except HandshakeFailed as exc:
            site.metrics.handshake_failures.labels("web").inc()
            log("CONNECTION", f"web: {escape(client_address[0])} TLS handshake failed: "
                f"{escape(exc)}")
            return
        try:
            tls.setblocking(True)
            tls.settimeout(READ_TIMEOUT)
            WebHandler(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        log("ERROR", f"web: request from {escape(client_address[0])} failed")


class WebHandler(BaseHTTPRequestHandler):
    server: WebServer
    server_version = "guessnet"
    sys_version = ""
    protocol_version = "HTTP/1.0"  # one request per connection; a stream ends at close

    def log_message(self, format: str, *args: Any) -> None:
        pass  # requests are not logged: the page is public and polled by nobody

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
        elif path == "/join":
            self.reply(HTTPStatus.OK, "text/html; charset=utf-8", join_page(site), body)
        elif path == "/ca.pem":
            self.reply(HTTPStatus.OK, "application/x-pem-file", site.ca_file.read_bytes(), body,
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
        self.send_header("Cache-Control", "no-store")
        for key, value in {**SECURITY_HEADERS, **(extra or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        if body:
            self.wfile.write(data)

    def events(self) -> None:
        """The snapshot now, then each new one, until the browser goes away."""
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        for key, value in SECURITY_HEADERS.items():
            self.send_header(key, value)
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


def join_page(site: WebSite) -> bytes:
    """How to join: the address, ca.pem, and the commands, for the host's players."""
    host = html.escape(site.player_host)
    port = site.player_port
    text = JOIN.format(host=host, port=port)
    return text.encode("utf-8")


JOIN = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>guessnet: how to join</title><link rel="stylesheet" href="/style.css"></head>
<body><main class="join">
<h1>Join the game</h1>
<p>The server: <strong>{host}</strong>, player port <strong>{port}</strong>.</p>
<ol>
<li>Download <a href="/ca.pem">ca.pem</a>: the certificate of this server's private
authority, which your client uses to check it is talking to this server.</li>
<li>Install the player client (Python 3.11 or newer):
<pre>pip install "git+URL-OF-THE-GUESSNET-REPOSITORY"</pre>
or the wheel the host hands out: <pre>pip install guessnet-0.1.0-py3-none-any.whl</pre></li>
<li>Connect:
<pre>guessnet-play --host {host} --port {port} --cafile ca.pem</pre></li>
</ol>
<p>Then type a name, <code>2</code> for the shared room, and guess. <code>help</code> lists
every command.</p>
<p><a href="/">Back to the scoreboard</a></p>
</main></body></html>
"""
