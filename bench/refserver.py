"""The bare-protocol ceiling: the same frames over TLS, answered with a fixed reply.

Same architecture as ``server.py`` (``socketserver.ThreadingTCPServer``, TLS in the handler
thread, one thread per connection) but no game, no session, no storage: every frame read is
answered with one fixed ``hint`` frame.  ``server.py`` divided by this is what the features cost.

    python -m bench.refserver --certs certs --port 0
"""

from __future__ import annotations

import argparse
import socket
import socketserver
import ssl
import sys
from pathlib import Path

import protocol
from guessnet.net import tlsconf

REPLY = protocol.encode(protocol.Hint(value=5, result="high", tries_used=1, tries_left=4))
WELCOME = protocol.encode(protocol.Welcome(version=protocol.PROTOCOL_VERSION, server="ref",
                                           low=1, high=10, tries=5))


class RefHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.request.settimeout(30)
        try:
            tls = self.server.context.wrap_socket(self.request, server_side=True)  # type: ignore
        except (OSError, ssl.SSLError):
            return
        decoder = protocol.FrameDecoder()
        with tls:
            while True:
                try:
                    data = tls.recv(65536)
                except (OSError, ssl.SSLError):
                    return
                if not data:
                    return
                decoder.receive_data(data)
                replies = []
                while (payload := decoder.next_payload()) is not None:
                    replies.append(WELCOME if b'"hello"' in payload else REPLY)
                if replies:
                    tls.sendall(b"".join(replies))


class RefServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024
    context: ssl.SSLContext


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--certs", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    server = RefServer(("127.0.0.1", args.port), RefHandler)
    server.context = tlsconf.server_context(tlsconf.CertPaths(args.certs), False)
    print(f"reference listening: players on 127.0.0.1:{server.server_address[1]} (TLS), "
          f"admin on 127.0.0.1:0", flush=True)
    print("ready", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
