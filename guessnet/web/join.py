"""The join page: how a player installs the client and connects to this server."""

from __future__ import annotations

import html
from typing import Protocol


class JoinSite(Protocol):
    player_host: str
    player_port: int


def join_page(site: JoinSite) -> bytes:
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
