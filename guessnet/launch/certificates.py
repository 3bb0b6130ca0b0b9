"""Certificates made on first run: a private CA, the server's certificate and the admin's.

``ensure_certs`` creates a private CA (``ca.pem``/``ca.key``), a server certificate for the
names clients use (``server.pem``/``server.key``) and an admin client certificate
(``admin.pem``/``admin.key``).  Keys are written owner-only (0600).  The admin port accepts only
client certificates from that CA whose subject carries the organisational unit ``admin`` and
whose extended key usage allows client authentication; ``issue_client_cert`` makes more of them
(for an admin on another machine) or, for tests, certificates of another role.

The server's alone: a player's install has no ``cryptography`` (``guessnet.net.tlsconf`` makes
the TLS contexts with the standard library).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from guessnet.net.tlsconf import ADMIN_ROLE, ANY_ADDRESS, CertPaths, local_addresses
from guessnet.support.folders import FILE_MODE, FOLDER_MODE

VALIDITY = datetime.timedelta(days=825)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(path, FILE_MODE)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _load_ca(paths: CertPaths) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert = x509.load_pem_x509_certificate(paths.ca.read_bytes())
    key = serialization.load_pem_private_key(paths.ca_key.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{paths.ca_key} is not an EC key")
    return cert, key


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _create_ca(paths: CertPaths) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "guessnet private CA")])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(minutes=5))
        .not_valid_after(_now() + VALIDITY * 4)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA256()))
    _write_private(paths.ca_key, _key_pem(key))
    paths.ca.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _issue(paths: CertPaths, subject: x509.Name, usage: x509.ObjectIdentifier,
           sans: list[x509.GeneralName], cert_out: Path, key_out: Path) -> None:
    ca_cert, ca_key = _load_ca(paths)
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(minutes=5))
        .not_valid_after(_now() + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    _write_private(key_out, _key_pem(key))
    cert_out.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def server_names(extra: list[str]) -> list[x509.GeneralName]:
    """The names of the server certificate: this machine's usual names, the ``extra`` ones,
    and, when one of them is 0.0.0.0 or ::, every address of this machine."""
    hosts = ["localhost", "127.0.0.1", "::1", socket.gethostname(), *extra]
    if any(host in ANY_ADDRESS for host in extra):
        hosts += local_addresses()
    names: list[x509.GeneralName] = []
    for host in hosts:
        if not host or host in ANY_ADDRESS:
            continue
        try:
            name: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            name = x509.DNSName(host)
        if name not in names:
            names.append(name)
    return names


def certificate_names(path: Path) -> list[x509.GeneralName]:
    """The subject alternative names of the certificate at ``path``."""
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    try:
        return list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        return []


def ensure_certs(folder: Path, hosts: list[str]) -> list[Path]:
    """Create whatever of CA, server and admin certificates is missing, and reissue the
    server's when it does not name every one of ``hosts`` (signed by the same CA: players'
    ``ca.pem`` stays valid); return what was made."""
    paths = CertPaths(folder)
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, FOLDER_MODE)
    made: list[Path] = []
    if not paths.ca.exists() or not paths.ca_key.exists():
        _create_ca(paths)
        made.append(paths.ca)
        for stale in (paths.server, paths.admin):
            stale.unlink(missing_ok=True)
    wanted = server_names(hosts)
    if paths.server.exists() and paths.server_key.exists():
        present = certificate_names(paths.server)
        missing = [name for name in wanted if name not in present]
        wanted = present + missing
    else:
        missing = wanted
    if missing:
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "guessnet server")])
        _issue(paths, subject, ExtendedKeyUsageOID.SERVER_AUTH, wanted, paths.server,
               paths.server_key)
        made.append(paths.server)
    if not paths.admin.exists() or not paths.admin_key.exists():
        issue_client_cert(folder, "admin", ADMIN_ROLE, paths.admin, paths.admin_key)
        made.append(paths.admin)
    return made


def issue_client_cert(folder: Path, name: str, role: str, cert_out: Path, key_out: Path) -> None:
    """Write a client certificate for ``name`` with ``role`` (``admin`` for the admin port)."""
    subject = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, name),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role),
    ])
    _issue(CertPaths(folder), subject, ExtendedKeyUsageOID.CLIENT_AUTH, [], cert_out, key_out)
