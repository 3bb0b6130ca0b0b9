"""The web port: scoreboard events, metrics, and a listener that resists what the game port does."""

from __future__ import annotations

import re
import resource
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

import protocol
from guessnet.net import tlsconf
from guessnet.web.site import allowed
from tests.conftest import ROOT, Running
from tests.procs import PY, OutputLines, serving_web
from tests.services import free_port
from tests.web import EventStream, get, metrics

IP = re.compile(r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b")


def web_server(make_server: Callable[..., Running], *extra: str) -> tuple[Running, int]:
    port = free_port()
    return make_server("--web-port", str(port), *extra), port


def test_pages_are_served_with_their_types(make_server: Callable[..., Running]) -> None:
    srv, port = web_server(make_server)
    ca = srv.certs / "ca.pem"
    for path, kind in (("/", "text/html"), ("/app.js", "text/javascript"),
                       ("/style.css", "text/css"), ("/join", "text/html")):
        status, headers, body = get(port, path, ca)
        assert status == 200 and headers["Content-Type"].startswith(kind), path
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert "default-src 'self'" in headers["Content-Security-Policy"]
        own = f"https://127.0.0.1:{port}/join".encode()  # the join box names this server
        assert b"http://" not in body.replace(own, b"") and \
            b"https://" not in body.replace(own, b"")  # no CDN: works offline
    status, _, body = get(port, "/join", ca)
    assert f"--port {srv.port}".encode() in body and b"guessnet-play" in body
    status, headers, body = get(port, "/ca.pem", ca)
    assert status == 200 and body == ca.read_bytes()
    assert get(port, "/nothing", ca)[0] == 404
    assert get(port, "/../server.py", ca)[0] == 404


def test_events_follow_the_game(make_server: Callable[..., Running]) -> None:
    srv, port = web_server(make_server)
    stream = EventStream(port, srv.certs / "ca.pem")
    try:
        first = stream.next_state()
        assert first["rooms"] == [] and first["online"] == 0
        ann, bob = srv.player("ann"), srv.player("bob")
        for peer in (ann, bob):
            peer.request(protocol.Play(mode="multi"), protocol.RoundStarted)
        state = stream.wait_for(lambda s: s["rooms"] and len(s["rooms"][0]["members"]) == 2)
        assert state["online"] == 2 and state["rooms"][0]["name"] == "main"
        secret = srv.room_secret()
        ann.request(protocol.Guess(value=secret), protocol.Hint)
        won = time.monotonic()
        state = stream.wait_for(lambda s: s["rounds"] and s["rooms"][0]["round"] == 2)
        assert time.monotonic() - won < 1.0  # pushed, not polled by the page
        assert state["rounds"][0] == {**state["rounds"][0], "room": "main", "round": 1,
                                      "winner": "ann", "secret": secret, "outcome": "won"}
        assert state["leaders"]["multi"] == []  # guests are not on the leaderboards
        bob.request(protocol.Play(mode="tictactoe"), protocol.Board)
        state = stream.wait_for(lambda s: s["matches"])
        assert state["matches"][0]["x"] == "bob" and state["matches"][0]["o"] == "server"
        bob.request(protocol.Move(cell="5"), protocol.Board)
        state = stream.wait_for(lambda s: s["matches"] and "X" in s["matches"][0]["board"])
        text = stream.text
    finally:
        stream.close()
    assert not IP.search(text), "the public page shows an address"
    assert "token" not in text


def test_metrics_parse_and_move(make_server: Callable[..., Running]) -> None:
    srv, port = web_server(make_server)
    ca = srv.certs / "ca.pem"
    before = metrics(port, ca)
    for name in ("guessnet_players_connected", "guessnet_rooms", "guessnet_guesses_total",
                 "guessnet_messages_sent_total", "guessnet_games_stored_total",
                 "guessnet_games_journaled_total", "guessnet_slow_readers_dropped_total",
                 "guessnet_evictions_total", "guessnet_login_failures_total",
                 "guessnet_login_throttled_total", "process_cpu_seconds_total",
                 "process_resident_memory_bytes", "process_open_fds", "guessnet_threads"):
        assert name in before, name
    ann = srv.player("ann")
    ann.request(protocol.Play(mode="multi"), protocol.RoundStarted)
    ann.request(protocol.Guess(value=srv.room_secret()), protocol.Hint)
    ann.expect(protocol.RoundStarted)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as plain:
        plain.sendall(b"GET / HTTP/1.0\r\n\r\n")  # plaintext on a TLS port
    after = metrics(port, ca)
    assert after["guessnet_players_connected"] == 1
    assert after["guessnet_rooms"] == 1
    assert after["guessnet_guesses_total"] == before["guessnet_guesses_total"] + 1
    assert after['guessnet_rounds_total{outcome="won"}'] == 1
    assert after["guessnet_games_stored_total"] == 1
    assert after['guessnet_messages_received_total{type="guess"}'] == 1
    assert after['guessnet_request_seconds_count{type="guess"}'] == 1
    assert after["guessnet_messages_sent_total"] >= 5  # welcome, identified, round, hint...
    deadline = time.monotonic() + 5
    while after['guessnet_tls_handshake_failures_total{port="player"}'] < 1:
        assert time.monotonic() < deadline, "the plaintext client was not counted"
        time.sleep(0.05)
        after = metrics(port, ca)


def test_metrics_count_a_failed_login_and_a_slow_reader_close(
        make_server: Callable[..., Running]) -> None:
    srv, port = web_server(make_server)
    ca = srv.certs / "ca.pem"
    bob = srv.player()
    bob.hello()
    bob.refused(protocol.Login(name="nobody", password="wrong-password"), "bad_login")
    admin = srv.admin()
    srv.player("carl")
    admin.request(protocol.Kick(target="carl", reason="test"), protocol.Ok)
    deadline = time.monotonic() + 5
    while True:
        now = metrics(port, ca)
        if now["guessnet_evictions_total"] == 1:
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert now["guessnet_login_failures_total"] == 1
    assert now['guessnet_disconnects_total{reason="kicked"}'] == 1


def test_metrics_are_for_the_admin_host_only() -> None:
    assert allowed("127.0.0.1", frozenset(["127.0.0.1"]))
    assert allowed("::1", frozenset(["127.0.0.1"]))
    assert allowed("10.0.0.7", frozenset(["10.0.0.7"]))
    assert not allowed("10.0.0.8", frozenset(["10.0.0.7"]))
    assert not allowed("not an address", frozenset(["10.0.0.7"]))


def test_metrics_refused_from_another_machine(make_server: Callable[..., Running]) -> None:
    outside = [a for a in tlsconf.local_addresses() if "." in a and not a.startswith("127.")]
    if not outside:
        pytest.skip("this machine has no non-loopback IPv4 address to come from")
    srv, port = web_server(make_server, "--web-host", "0.0.0.0")
    status, _, body = _get_from(outside[0], port, srv.certs / "ca.pem")
    assert status == 403 and b"--metrics-public" in body


def _get_from(address: str, port: int, ca: Path) -> tuple[int, dict[str, str], bytes]:
    """GET /metrics over a connection to ``address`` (a non-loopback address of this machine,
    so the server sees a peer that is not the admin host)."""
    raw = socket.create_connection((address, port), timeout=10)
    tls = ssl.create_default_context(cafile=str(ca))
    tls.check_hostname = False  # the certificate names this machine, not that address
    with tls.wrap_socket(raw) as sock:
        sock.sendall(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), {}, body


def test_listener_resists_slow_huge_and_plaintext_clients(
        make_server: Callable[..., Running]) -> None:
    srv, port = web_server(make_server, "--handshake-timeout", "1")
    ca = srv.certs / "ca.pem"
    silent = socket.create_connection(("127.0.0.1", port), timeout=5)
    plain = socket.create_connection(("127.0.0.1", port), timeout=5)
    plain.sendall(b"GET / HTTP/1.0\r\n\r\n")
    started = time.monotonic()
    assert silent.recv(10) == b""  # closed at the handshake deadline
    assert time.monotonic() - started < 4
    plain.settimeout(5)
    try:
        assert plain.recv(100)[:1] in (b"", b"\x15")  # nothing, or a TLS alert
    except ConnectionResetError:
        pass
    for sock in (silent, plain):
        sock.close()
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    with ssl.create_default_context(cafile=str(ca)).wrap_socket(
            raw, server_hostname="127.0.0.1") as huge:
        huge.sendall(b"GET / HTTP/1.0\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n")
        answer = huge.recv(100)
        assert answer.startswith(b"HTTP/1.0 431") or answer.startswith(b"HTTP/1.0 400"), answer
    ann = srv.player("ann")  # the game never noticed
    ann.request(protocol.Play(mode="single"), protocol.RoundStarted)
    assert get(port, "/", ca)[0] == 200


@pytest.mark.timeout(120)
def test_a_thousand_idle_connections_leave_the_game_alone(tmp_path: Path, certs: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    server = serving_web(tmp_path, certs, "--handshake-timeout", "30")
    web_port = server.web_port
    idle: list[socket.socket] = []
    try:
        for _ in range(1000):
            idle.append(socket.create_connection(("127.0.0.1", web_port), timeout=10))
        ann = server.peer("ann")
        ann.request(protocol.Play(mode="single"), protocol.RoundStarted)
        worst = 0.0
        for value in (1, 2, 3):
            started = time.monotonic()
            ann.request(protocol.Guess(value=value), protocol.Message)
            worst = max(worst, time.monotonic() - started)
        assert worst < 0.5, f"a guess took {worst:.3f} s beside 1,000 idle web sockets"
        ann.close()
        for sock in idle:
            sock.close()
        idle.clear()
        deadline = time.monotonic() + 10
        while get(web_port, "/", certs / "ca.pem")[0] != 200:  # served again once they left
            assert time.monotonic() < deadline
    finally:
        for sock in idle:
            sock.close()
        server.stop()


@pytest.mark.parametrize("request_line", [b"GET /\r\n", b"GARBAGE\r\n\r\n",
                                          b"GET / HTTP/9.9\r\n\r\n", b"\x00\xff x\r\n\r\n"])
def test_every_answer_has_a_status_line_and_the_security_headers(
        make_server: Callable[..., Running], request_line: bytes) -> None:
    srv, port = web_server(make_server)
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    with ssl.create_default_context(cafile=str(srv.certs / "ca.pem")).wrap_socket(
            raw, server_hostname="127.0.0.1") as tls:
        tls.sendall(request_line)
        answer = b""
        while chunk := tls.recv(4096):
            answer += chunk
    head = answer.split(b"\r\n\r\n")[0].decode("latin-1")
    assert re.match(r"HTTP/1\.0 (400|505) ", head), answer[:200]
    assert "X-Content-Type-Options: nosniff" in head and "Content-Security-Policy:" in head


@pytest.mark.timeout(240)
def test_slowloris_and_fat_headers_leave_the_page_and_the_game_alone(tmp_path: Path,
                                                                     certs: Path) -> None:
    server = serving_web(tmp_path, certs)
    web_port = server.web_port
    crowd: subprocess.Popen[str] | None = None
    ann = server.peer("ann")
    try:
        process = psutil.Process(server.pid)
        assert get(web_port, "/", certs / "ca.pem")[0] == 200
        base = process.memory_info().rss
        crowd = subprocess.Popen(
            [PY, "-m", "tests.slowloris", "--port", str(web_port), "--cafile",
             str(certs / "ca.pem"), "--drip", "512", "--fat", "512"],
            stdout=subprocess.PIPE, text=True, cwd=ROOT)
        assert crowd.stdout is not None
        lines = OutputLines(crowd.stdout)
        lines.wait_for("ready", timeout=120)
        pings: list[float] = []
        pages: list[tuple[int, float]] = []
        peak = base
        until = time.monotonic() + 20  # two request deadlines: every drip cut at least once
        while time.monotonic() < until:
            started = time.monotonic()
            ann.request(protocol.Ping(nonce=len(pings) + 1), protocol.Pong)
            pings.append(time.monotonic() - started)
            started = time.monotonic()
            pages.append((get(web_port, "/", certs / "ca.pem")[0], time.monotonic() - started))
            peak = max(peak, process.memory_info().rss)
            threading.Event().wait(0.1)  # sample ten times a second, under --max-rate
        closed = int(lines.latest("closed").split()[1])
    finally:
        ann.close()
        if crowd is not None:
            crowd.kill()
            crowd.wait(timeout=10)
            if crowd.stdout is not None:
                crowd.stdout.close()
        server.stop()
    print(f"pings max {max(pings) * 1000:.1f} ms, pages max {max(t for _, t in pages):.2f} s, "
          f"RSS +{(peak - base) / 2**20:.1f} MiB, {closed} hostile connections closed")
    assert max(pings) < 0.1, pings
    assert all(status == 200 for status, _ in pages), pages
    assert peak - base < 100 * 2**20, (base, peak)
    assert closed > 512  # the drips were cut at their deadline, and came back
