"""Start ``server.py`` (or the bench's reference server) as a process on free ports."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Self

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
LISTEN = re.compile(r"players on [\d.]+:(\d+) \(TLS\), admin on [\d.]+:(\d+)")
WEB = re.compile(r"scoreboard on https?://[^/]+:(\d+)/")


class ServerProcess:
    """``python server.py`` with its own folders; the ports come from its first line."""

    def __init__(self, folder: Path, certs: Path, *extra: str) -> None:
        self.folder, self.certs = folder, certs
        self.args = [PY, str(ROOT / "server.py"), "--port", "0", "--admin-port", "0",
                     "--certs", str(certs), "--data-dir", str(folder / "data"),
                     "--log-dir", str(folder / "logs"), "--web-port", "0",
                     *extra]
        self.proc: subprocess.Popen[str] | None = None
        self.port = self.admin_port = self.web_port = 0  # (web: 0 if it serves none)
        self.banner = self.more = ""

    def start(self) -> Self:
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, cwd=ROOT)
        assert self.proc.stdout is not None
        self.banner = self.proc.stdout.readline()  # the banner, or EOF if it failed
        match = LISTEN.search(self.banner)
        if not match:
            self.proc.kill()  # else reading its error output would wait for it to exit
            error = self.proc.communicate(timeout=30)[1]  # (and its pipes closed)
            raise RuntimeError(f"server did not start: {self.banner!r} {error}")
        self.port, self.admin_port = int(match.group(1)), int(match.group(2))
        web = WEB.search(self.banner)
        self.web_port = int(web.group(1)) if web else 0
        self.more = self.proc.stdout.readline()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(timeout=10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()
        return code
