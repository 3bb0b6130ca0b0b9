"""Hostile input against a live server while a normal player plays: it must achieve nothing."""

from __future__ import annotations

import json
import resource
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import protocol
from guessnet.net import tlsconf
from tests.conftest import Peer, Running
from tests.procs import ServerProcess


@pytest.fixture
def arena(make_server: Callable[..., Running]) -> Iterator[tuple[Running, Peer]]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    srv = make_server("--max-rate", "100000", "--frame-timeout", "1", "--handshake-timeout", "2",
                      "--max-per-peer", "1000")
    normal = srv.player("normal")
    normal.request(protocol.Play(mode="single"), protocol.RoundStarted)
    yield srv, normal
    assert_unaffected(srv, normal)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def assert_unaffected(srv: Running, normal: Peer) -> None:
    """The normal player still gets prompt, correct answers."""
    started = time.monotonic()
    secret = srv.single_secret("normal")
    miss = 1 if secret != 1 else 2
    hint = normal.request(protocol.Guess(value=miss), protocol.Hint, timeout=2)
    assert hint.value == miss and hint.result in ("high", "low")
    assert time.monotonic() - started < 2
    normal.inbox.clear()


def raw_tls(srv: Running) -> ssl.SSLSocket:
    context = tlsconf.client_context(srv.certs / "ca.pem")
    raw = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    tls = context.wrap_socket(raw, server_hostname="127.0.0.1")
    tls.settimeout(5)
    return tls


def closed_by_server(sock: ssl.SSLSocket) -> bool:
    try:
        while sock.recv(4096):
            pass
    except (ssl.SSLError, ConnectionError):
        pass
    return True


@pytest.mark.parametrize("length", [0, 4097, 2**32 - 1])
def test_bad_length_prefixes(arena: tuple[Running, Peer], length: int) -> None:
    srv, normal = arena
    with raw_tls(srv) as tls:
        tls.sendall(struct.pack(">I", length) + b"x" * 10)
        decoder = protocol.FrameDecoder(protocol.SERVER_TO_PLAYER)
        decoder.receive_data(tls.recv(4096))
        error = decoder.next_message()
        assert isinstance(error, protocol.Error) and error.code == "bad_length"
        assert closed_by_server(tls)
    assert_unaffected(srv, normal)


def test_truncated_frame_then_silence_then_fin(arena: tuple[Running, Peer]) -> None:
    srv, normal = arena
    with raw_tls(srv) as tls:
        frame = protocol.encode(protocol.Hello(version=1))
        tls.sendall(frame[:-3])  # then silence: the frame deadline (1 s) cuts it
        assert closed_by_server(tls)
    with raw_tls(srv) as tls:
        tls.sendall(frame[:7])
        tls.shutdown(socket.SHUT_WR)  # then FIN, without even a TLS close_notify
        assert closed_by_server(tls)
    assert_unaffected(srv, normal)


@pytest.mark.parametrize("payload", [
    b"\xc3\x28\xa0\xa1", b"[" * 3000 + b"]" * 1096, b'{"type":"guess","value":NaN}',
    b'{"type":"guess","value":1e309}', b'{"type":"guess","value":18446744073709551616}',
    b'{"type":"guess","value":-7}', b'{"type":"guess","value":false}', b'"just a string"',
    b'{"type":"\\u0000"}', b'{"type":"guess","value":"7"}', b'{"type":"name","name":["a"]}',
    b'{"type":"play","mode":"multi","room":{"a":1}}', b'{"type":"kick","target":"normal"}',
], ids=lambda p: p[:24].decode("latin-1"))
def test_bad_payloads(arena: tuple[Running, Peer], payload: bytes) -> None:
    srv, normal = arena
    evil = srv.player("evil")
    evil.send_payload(payload)
    assert evil.expect(protocol.Error).code
    assert evil.request(protocol.Who(), protocol.Table)  # the evil session itself goes on
    assert_unaffected(srv, normal)


def test_plaintext_and_silent_tls(arena: tuple[Running, Peer]) -> None:
    srv, normal = arena
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as plain:
        plain.sendall(b"GET / HTTP/1.0\r\n\r\n")
        try:
            plain.recv(100)
        except ConnectionResetError:
            pass
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as silent:
        silent.sendall(b"\x16\x03\x01\x00")  # the start of a ClientHello, then nothing
        assert_unaffected(srv, normal)  # the handshake waits in its own thread
        assert silent.recv(100) == b""  # cut at the 2 s handshake deadline


def test_500_idle_connections(arena: tuple[Running, Peer]) -> None:
    srv, normal = arena
    idle = [raw_tls(srv) for _ in range(500)]
    try:
        assert_unaffected(srv, normal)
        assert len(srv.services.registry.players()) >= 500
    finally:
        for sock in idle:
            sock.close()


def test_burst_of_200_connects(arena: tuple[Running, Peer]) -> None:
    srv, normal = arena
    results: list[bool] = []
    lock = threading.Lock()

    def connect() -> None:
        try:
            peer = Peer(srv.port, srv.certs / "ca.pem")
            peer.hello()
            peer.close()
            ok = True
        except OSError:
            ok = False
        with lock:
            results.append(ok)

    threads = [threading.Thread(target=connect) for _ in range(200)]
    for thread in threads:
        thread.start()
    assert_unaffected(srv, normal)
    for thread in threads:
        thread.join(timeout=30)
    assert results.count(True) == 200


valid_frames = st.sampled_from([
    protocol.encode(m) for m in (
        protocol.Hello(version=1), protocol.SetName(name="fuzzy"), protocol.Play(mode="single"),
        protocol.Guess(value=5), protocol.Say(text="hi"), protocol.Who(), protocol.Leave(),
        protocol.Move(cell="5"), protocol.Invite(to="normal"), protocol.Resume(token="x"))])


def mutate(frame: bytes, data: st.DataObject) -> bytes:
    raw = bytearray(frame)
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(4, len(raw) - 1))
        raw[position] = data.draw(st.integers(0, 255))
    return bytes(raw)


json_junk = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
              st.text(max_size=30)),
    lambda inner: st.one_of(st.lists(inner, max_size=5),
                            st.dictionaries(st.sampled_from(["type", "value", "name", "text",
                                                             "mode", "cell", "to"]), inner,
                                            max_size=4)), max_leaves=15)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_fuzzer(make_server: Callable[..., Running], data: st.DataObject) -> None:
    if not hasattr(test_fuzzer, "arena"):
        srv = make_server("--max-rate", "100000")
        normal = srv.player("normal")
        normal.request(protocol.Play(mode="single"), protocol.RoundStarted)
        test_fuzzer.arena = (srv, normal)  # type: ignore[attr-defined]
    srv, normal = test_fuzzer.arena  # type: ignore[attr-defined]
    frames = []
    for _ in range(100):  # 25 examples x 100 frames: thousands of frames in this one test
        kind = data.draw(st.integers(0, 2))
        if kind == 0:
            frames.append(mutate(data.draw(valid_frames), data))
        elif kind == 1:
            body = json.dumps(data.draw(json_junk)).encode()[:4096]
            frames.append(struct.pack(">I", len(body)) + body)
        else:
            frames.append(data.draw(valid_frames))
    with raw_tls(srv) as tls:
        try:
            tls.sendall(b"".join(frames))
            tls.settimeout(0.2)  # the replies to read, not a wait for anything
            while tls.recv(65536):
                pass
        except (TimeoutError, ssl.SSLError, ConnectionError):
            pass
    assert_unaffected(srv, normal)


@pytest.mark.timeout(120)
def test_a_failed_login_outlives_a_flood_of_malformed_frames(tmp_path: Path,
                                                             certs: Path) -> None:
    server = ServerProcess(tmp_path, certs).start()
    stop = threading.Event()
    sent = [0]

    def flood(index: int) -> None:
        while not stop.is_set():  # flat out; cut off for flooding, it comes straight back
            try:
                peer = Peer(server.port, certs / "ca.pem", source=f"127.5.0.{index % 100 + 1}")
            except (OSError, ssl.SSLError):
                continue
            try:
                while not stop.is_set():
                    peer.send_payload(b'{"type": broken')
                    sent[0] += 1
            except (OSError, ssl.SSLError):
                continue
            finally:
                peer.close()

    try:
        owner = server.peer()
        owner.hello()
        owner.refused(protocol.Login(name="owner", password="not-the-password"), "bad_login")
        owner.close()
        log = tmp_path / "logs" / "server.log"
        threads = [threading.Thread(target=flood, args=(i,)) for i in range(100)]
        for thread in threads:
            thread.start()
        stop.wait(15)
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        written = log.stat().st_size
    finally:
        server.stop()
    audit = (tmp_path / "logs" / "audit.log").read_text(encoding="utf-8")
    assert "login as owner failed" in audit
    assert "protocol error" not in audit  # the flood never reaches the audit log
    text = log.read_text(encoding="utf-8")
    assert "more lines like this one left out" in text
    # 15 s of flood wrote under 1 MB: five minutes would write under the 30 MB kept
    assert sent[0] > 10_000 and written < 1_000_000, (sent[0], written)
