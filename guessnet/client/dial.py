"""Dialling the server: a verified TLS connection, or one line saying what is wrong and what to
do about it (server not running, unknown host, a certificate that names another host or comes
from another CA, a port number that is no port)."""

from __future__ import annotations

import argparse
import socket
import ssl
from collections.abc import Callable
from pathlib import Path

from guessnet import wire
from guessnet.client.connection import REPLY_TIMEOUT, ClientError, NetThread, small_int
from guessnet.net.conn import Connection, HandshakeFailed, tls_handshake
from guessnet.net.pacing import Limits

CONNECT_TIMEOUT = 5.0
# The server is trusted not to flood us, and its frames must never be dropped: no rate limit.
# Clients ping too, so a server that vanished without a word is noticed within 3 intervals.
CLIENT_LIMITS = Limits(heartbeat=10.0, rate=1e9, burst=1e9, outbox_bytes=4 * 1024 * 1024)


HOSTNAME_MISMATCH, IP_MISMATCH = 62, 64  # OpenSSL's X509_V_ERR_HOSTNAME/IP_ADDRESS_MISMATCH


def connect(host: str, port: int, context: ssl.SSLContext, accepted: frozenset[str],
            cafile: Path, on_wire: Callable[[str, bytes], None] | None = None,
            limits: Limits | None = None) -> Connection:
    """Open a verified TLS connection or raise ``ClientError`` saying what went wrong."""
    where = f"{host}:{port}"
    try:
        sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
    except ConnectionRefusedError:
        raise ClientError(f"cannot connect to {where} (connection refused) - "
                          "is server.py running?") from None
    except socket.gaierror as exc:
        raise ClientError(f"cannot connect to {where}: unknown host ({exc.strerror})") from None
    except TimeoutError:
        raise ClientError(f"cannot connect to {where} (timed out) - is the address right "
                          "and the port open?") from None
    except OSError as exc:
        raise ClientError(f"cannot connect to {where} ({exc.strerror or exc})") from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        tls = tls_handshake(sock, context, server_side=False, timeout=CONNECT_TIMEOUT,
                            server_hostname=host)
    except HandshakeFailed as exc:
        sock.close()
        raise handshake_error(exc, where, host, cafile) from None
    return Connection(tls, accepted=accepted, limits=limits or CLIENT_LIMITS,
                      peer=where, on_wire=on_wire)


MAX_PORT = 65535
DEFAULT_PORTS = {"player": 4000, "admin": 4001}


def unframed(msg: wire.Message, greeted: bool) -> bool:
    """Our own report of undecodable bytes before any welcome: not_greeted explains it."""
    return not greeted and isinstance(msg, wire.Error) and msg.code == "bad_length"


def not_greeted(net: NetThread, meant: str) -> str:
    """Why the server at ``where`` did not answer our hello, in one line; when it is another
    of guessnet's ports (the web port answers in HTTP, the admin port asks for a client
    certificate), say which one, and which port ``meant`` ("player" or "admin") is."""
    where = net.conn.peer
    use = f"use the {meant} port (--port, default {DEFAULT_PORTS[meant]})"
    bad, failed = net.protocol_error, net.conn.read_error
    if bad is not None and bad.seen == b"HTTP":
        return (f"{where} is a web server (guessnet's scoreboard port?), not the {meant} port: "
                f"{use}{'; the join page shows the command' if meant == 'player' else ''}.")
    if isinstance(failed, ssl.SSLError) and "CERTIFICATE_REQUIRED" in str(failed.reason):
        return (f"{where} asks for a client certificate: it is guessnet's admin port, not the "
                f"{meant} port: {use}.")
    if bad is not None:
        return f"{where} does not speak guessnet's protocol ({bad}): {use}."
    if not net.closed.is_set():
        return (f"the server at {where} did not greet us within {REPLY_TIMEOUT:g} s: it may "
                f"be busy (try again in a minute), or it is not the {meant} port: {use}.")
    return f"the server at {where} closed the connection before greeting us: {use}."


def handshake_error(exc: HandshakeFailed, where: str, host: str, cafile: Path) -> ClientError:
    """What to tell the user when the TLS handshake failed: a certificate for another name, a
    certificate from another CA, or what TLS said."""
    cause = exc.__cause__
    if isinstance(cause, ssl.SSLCertVerificationError) and \
            cause.verify_code in (HOSTNAME_MISMATCH, IP_MISMATCH):
        return ClientError(
            f"the server at {where} has a certificate from the right CA, but it does not name "
            f"{host!r} ({cause.verify_message}). Connect with a name it carries (the server "
            "prints them when it starts), or ask the host to add this one: "
            f"server.py --cert-name {host}")
    if isinstance(cause, ssl.SSLCertVerificationError):
        return ClientError(
            f"the server at {where} presented a certificate that does not verify against "
            f"{cafile} ({cause.verify_message}); connection refused. Use --cafile with the "
            "ca.pem of the server you mean to reach.")
    return ClientError(f"TLS with {where} failed: {exc}")


def port_number(value: str) -> int:
    number = small_int(value, 5)
    if number is None or not 1 <= number <= MAX_PORT:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port: use 1-{MAX_PORT}")
    return number
