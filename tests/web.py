"""Reading the web port as a browser or Prometheus would: pages, metrics, the event stream."""

from __future__ import annotations

import json
import socket
import ssl
import time
import urllib.request
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

TIMEOUT = 10.0


def context(cafile: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cafile))


def get(port: int, path: str, cafile: Path | None, host: str = "127.0.0.1"
        ) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of ``GET path`` (HTTPS verified against ``cafile``, or plain
    HTTP when it is None); an HTTP error status is returned, not raised."""
    scheme = "http" if cafile is None else "https"
    request = urllib.request.Request(f"{scheme}://{host}:{port}{path}")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT,
                                    context=None if cafile is None else context(cafile)) as rsp:
            return rsp.status, dict(rsp.headers), rsp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def metrics(port: int, cafile: Path | None) -> dict[str, float]:
    """Every sample of ``/metrics``, parsed by prometheus_client's own parser, by name and
    labels (``guessnet_rounds_total{outcome="won"}``)."""
    status, headers, body = get(port, "/metrics", cafile)
    assert status == 200 and headers["Content-Type"].startswith("text/plain"), (status, body)
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(body.decode("utf-8")):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


class EventStream:
    """``/events`` read as an EventSource would: ``state`` events, parsed."""

    def __init__(self, port: int, cafile: Path | None) -> None:
        raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.sock: socket.socket = raw if cafile is None else \
            context(cafile).wrap_socket(raw, server_hostname="127.0.0.1")
        self.sock.sendall(b"GET /events HTTP/1.1\r\nHost: scoreboard\r\n"
                          b"Accept: text/event-stream\r\n\r\n")
        self.buffer = b""
        self.text = ""  # everything received, for checks on what the page may show

    def next_state(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            while b"\n\n" in self.buffer:
                event, self.buffer = self.buffer.split(b"\n\n", 1)
                lines = event.decode("utf-8").splitlines()
                if "event: state" in lines:
                    data = next(line[6:] for line in lines if line.startswith("data: "))
                    state: dict[str, Any] = json.loads(data)
                    return state
            left = deadline - time.monotonic()
            assert left > 0, f"no state event within {timeout} s"
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            assert chunk, "the event stream ended"
            self.buffer += chunk
            self.text += chunk.decode("utf-8", "replace")

    def wait_for(self, check: Any, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The first state ``check`` accepts, within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.next_state(max(0.01, deadline - time.monotonic()))
            if check(state):
                return state

    def close(self) -> None:
        self.sock.close()
