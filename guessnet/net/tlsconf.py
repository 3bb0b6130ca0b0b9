"""TLS contexts for the ports and the clients, with the standard library alone.

Where the certificates live (``CertPaths``); who they are (``guessnet.launch.certificates``
makes them, on the server's first run).  The admin port accepts only client certificates from
the private CA whose subject carries the organisational unit ``admin`` (``ADMIN_ROLE``).  A
client's files that are no certificate or key are one ``BadCertificate``, said in a line.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ADMIN_ROLE = "admin"


@dataclass(frozen=True)
class CertPaths:
    folder: Path

    @property
    def ca(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.folder / "ca.key"

    @property
    def server(self) -> Path:
        return self.folder / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.folder / "server.key"

    @property
    def admin(self) -> Path:
        return self.folder / "admin.pem"

    @property
    def admin_key(self) -> Path:
        return self.folder / "admin.key"


ANY_ADDRESS = ("0.0.0.0", "::")  # noqa: S104 (listening everywhere: not a name)


def local_addresses() -> list[str]:
    """This machine's addresses that other machines may use to reach it (best effort)."""
    found: set[str] = set()
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            found.add(str(info[4][0]))
    except OSError:
        pass
    for family, probe in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):
        try:  # the address the default route leaves from (a UDP connect sends nothing)
            with socket.socket(family, socket.SOCK_DGRAM) as udp:
                udp.connect((probe, 9))
                found.add(str(udp.getsockname()[0]))
        except OSError:
            pass
    return sorted(address.split("%")[0] for address in found)


def _base_context(purpose: ssl.Purpose, trusted: Path | None) -> ssl.SSLContext:
    """The standard library's secure defaults, trusting only ``trusted`` (our private CA):
    never the system's public CAs, which could vouch for anyone."""
    if trusted is not None:
        context = ssl.create_default_context(purpose, cafile=str(trusted))
    else:  # a server port that asks for no client certificate has nothing to trust
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def server_context(paths: CertPaths, require_client_cert: bool) -> ssl.SSLContext:
    """Context for a listening port; the admin port sets ``require_client_cert``."""
    context = _base_context(ssl.Purpose.CLIENT_AUTH, paths.ca if require_client_cert else None)
    context.load_cert_chain(paths.server, paths.server_key)
    # No TLS 1.3 session tickets: no client of ours resumes a TLS session (a reconnect is a
    # full handshake, then the game's own resume token), so the two tickets OpenSSL sends by
    # default were two encryptions and a write per connection for nothing.
    context.num_tickets = 0
    if require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
    return context


class BadCertificate(Exception):
    """A client's CA file, certificate or key cannot be used (the user's to fix): the message
    says which file and what to do."""


def client_context(cafile: Path, cert: Path | None = None,
                   key: Path | None = None) -> ssl.SSLContext:
    """Context for pclient/aclient: always verifies the server against ``cafile``."""
    try:
        context = _base_context(ssl.Purpose.SERVER_AUTH, cafile)
    except (ssl.SSLError, OSError, ValueError):
        raise BadCertificate(
            f"{cafile} is not a CA certificate: use the ca.pem the host hands out (the "
            "server's join page, /join on its web port, has a link to it)") from None
    if cert is not None:
        try:
            context.load_cert_chain(cert, key)
        except (ssl.SSLError, OSError, ValueError):
            raise BadCertificate(
                f"{cert} and {key} are not a certificate and its key: use the admin.pem and "
                "admin.key from the server's certs folder") from None
    return context


def subject_field(peer_cert: Mapping[str, object] | None, key: str) -> str | None:
    """One subject attribute of a verified peer certificate (``organizationalUnitName`` is the
    role, ``commonName`` the holder), or None."""
    subject = (peer_cert or {}).get("subject", ())
    for rdn in subject if isinstance(subject, tuple) else ():
        for name, value in rdn:
            if name == key:
                return str(value)
    return None
