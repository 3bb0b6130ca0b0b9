"""Joining, as the room sees it: the join page, its QR code, and the scoreboard's join box.

``Joining`` is what a student needs to reach this server: the player port's address, the URL
of the join page (``/join``), the client to download (``guessnet.web.bundle``) and the CA
certificate.  The scoreboard (``/``) shows the address and a QR code of the join page
(``/join.svg``, made by segno) in its join box; the join page gives the downloads and the
exact commands for this server, so a student follows it from the page alone.
"""

from __future__ import annotations

import hashlib
import html
import io
from dataclasses import dataclass, field
from pathlib import Path

import segno

from guessnet.web.bundle import FILENAME, ClientBundle


def url_host(host: str) -> str:
    """A host as a URL writes it (an IPv6 address in brackets)."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


@dataclass
class Joining:
    player_host: str
    player_port: int
    join_url: str
    ca_file: Path
    bundle: ClientBundle = field(default_factory=ClientBundle)
    _qr: bytes = b""

    @property
    def address(self) -> str:
        return f"{url_host(self.player_host)}:{self.player_port}"

    def qr_svg(self) -> bytes:
        """The join page's URL as a QR code: black on white, with its quiet zone, so that a
        phone reads it off a dark page on a projector."""
        if not self._qr:
            out = io.BytesIO()
            segno.make(self.join_url, error="m").save(
                out, kind="svg", scale=8, border=4, dark="#000", light="#fff",
                title="QR code of the join page", xmldecl=False)
            self._qr = out.getvalue()
        return self._qr

    def scoreboard(self, template: str) -> bytes:
        """The scoreboard page with this server's join box filled in."""
        text = (template.replace("%JOIN_URL%", html.escape(self.join_url))
                .replace("%PLAYER_ADDRESS%", html.escape(self.address)))
        return text.encode("utf-8")

    def page(self) -> bytes:
        """How to join: the downloads and the commands, for this server."""
        bundle = self.bundle.get()
        ca = hashlib.sha256(self.ca_file.read_bytes()).hexdigest()
        command = (f"guessnet-play.pyz --host {url_host(self.player_host)} "
                   f"--port {self.player_port} --cafile ca.pem")
        text = JOIN.format(
            address=html.escape(self.address), size=bundle.size_text, pyz=FILENAME,
            pyz_sha=bundle.sha256, ca_sha=ca, unix=html.escape(f"python3 {command}"),
            windows=html.escape(f"py {command}"),
            pip=html.escape(f"guessnet-play --host {url_host(self.player_host)} --port "
                            f"{self.player_port} --cafile ca.pem"))
        return text.encode("utf-8")


JOIN = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>guessnet: how to join</title><link rel="stylesheet" href="/style.css"></head>
<body class="join-page"><main class="join">
<h1>Join the game</h1>
<p>The server is <strong>{address}</strong>. You need Python 3.11 or newer.</p>
<ol>
<li><a href="/{pyz}" download>Download the client, {pyz}</a> ({size}: the player client
and the libraries it uses, in one file).</li>
<li><a href="/ca.pem" download>Download ca.pem</a>: the certificate of this server's private
authority, with which your client checks that it talks to this server and no other. Save
both files in one folder.</li>
<li>Open a terminal in that folder and run (Linux, macOS):
<pre>{unix}</pre>
on Windows:
<pre>{windows}</pre></li>
</ol>
<p>Then type a name, <code>2</code> to play in the shared room, and guess.
<code>help</code> lists every command, <code>/q</code> quits.</p>
<details><summary>Checking the downloads, or installing with pip</summary>
<p>SHA-256 of {pyz}: <code class="hash">{pyz_sha}</code><br>
SHA-256 of ca.pem: <code class="hash">{ca_sha}</code></p>
<p>With the guessnet package installed instead (<code>pip install</code> the wheel your host
hands out), the command is:</p>
<pre>{pip}</pre></details>
<p><a href="/">Back to the scoreboard</a></p>
</main></body></html>
"""
