"""``python server.py`` as a subprocess on free ports, as users and scripts run it."""

from __future__ import annotations

import bench.launch
import protocol
from bench.launch import LISTEN, PY
from tests.conftest import Peer

__all__ = ["LISTEN", "PY", "ServerProcess"]


class ServerProcess(bench.launch.ServerProcess):
    """The bench's launcher, with test peers."""

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
