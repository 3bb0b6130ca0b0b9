"""``python server.py`` as a subprocess on free ports, as users and scripts run it."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import protocol
from tests.conftest import ROOT, Peer

PY = sys.executable
LISTEN = re.compile(r"players on [\d.]+:(\d+) \(TLS\), admin on [\d.]+:(\d+)")


class ServerProcess:
    """``python server.py`` on free ports with its own folders; the ports come from its banner."""

    def __init__(self, folder: Path, certs: Path, *extra: str) -> None:
        self.folder, self.certs = folder, certs
        self.args = [PY, str(ROOT / "server.py"), "--port", "0", "--admin-port", "0",
                     "--certs", str(certs), "--data-dir", str(folder / "data"),
                     "--log-dir", str(folder / "logs"), "--heartbeat", "0", *extra]
        self.proc: subprocess.Popen[str] | None = None
        self.port = self.admin_port = 0
        self.banner = ""

    def start(self) -> ServerProcess:
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, cwd=ROOT)
        assert self.proc.stdout is not None
        self.banner = self.proc.stdout.readline()  # the banner, or EOF if it failed
        match = LISTEN.search(self.banner)
        assert match, f"no banner: {self.banner!r} {self.proc.stderr.read()}"  # type: ignore
        self.port, self.admin_port = int(match.group(1)), int(match.group(2))
        self.more = self.proc.stdout.readline()
        return self

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=10)
        finally:
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream:
                    stream.close()
        return code

    def peer(self, name: str | None = None) -> Peer:
        peer = Peer(self.port, self.certs / "ca.pem")
        if name:
            peer.join_as(name)
        return peer

    def admin(self) -> Peer:
        peer = Peer(self.admin_port, self.certs / "ca.pem", cert=self.certs / "admin.pem",
                    key=self.certs / "admin.key", accepted=protocol.SERVER_TO_ADMIN)
        peer.hello()
        return peer
