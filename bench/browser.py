"""Debian's chromium, headless, driven by selenium through the system chromedriver.

The browser trusts exactly the server's key (``--ignore-certificate-errors-spki-list``), the
way a host who imported ``ca.pem`` would trust the server: no other certificate error is let
through.  The background-networking flags keep chromium from calling out of a closed network.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

from bench import services

FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-extensions",
         "--window-size=1280,720")


def spki_hash(certificate: Path) -> str:
    """The base64 SHA-256 of a certificate's public key, as chromium's SPKI list wants it."""
    cert = x509.load_pem_x509_certificate(certificate.read_bytes())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@contextmanager
def chromium(profile: Path, trusted: Path | None = None) -> Iterator[webdriver.Chrome]:
    """A headless chromium with a fresh profile in ``profile``, trusting the key of the
    certificate ``trusted`` (``MissingService`` when chromium is not installed)."""
    binary, driver_path = services.need("chromium"), services.need("chromedriver")
    options = Options()
    options.binary_location = binary
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    if trusted is not None:
        options.add_argument(f"--ignore-certificate-errors-spki-list={spki_hash(trusted)}")
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()
