"""The real server on free ports over real TLS: single and multiplayer rounds, bad peers."""

from __future__ import annotations

import socket
import ssl
import struct
from collections.abc import Callable

import pytest

import protocol
from tests.conftest import Peer, Running


def wrong(secret: int, low: int = 1, high: int = 10) -> list[int]:
    return [v for v in range(low, high + 1) if v != secret]


def test_single_round(srv: Running) -> None:
    ann = srv.player("ann")
    started = ann.request(protocol.Play(mode="single"), protocol.RoundStarted)
    assert (started.mode, started.low, started.high, started.tries, started.tries_used) == (
        "single", 1, 10, 5, 0)
    secret = srv.single_secret("ann")
    miss = wrong(secret)[0]
    hint = ann.request(protocol.Guess(value=miss), protocol.Hint)
    assert hint.result == ("high" if miss > secret else "low") and hint.tries_left == 4
    error = ann.refused(protocol.Guess(value=11), "rejected")
    assert "outside the range" in error.message
    hint = ann.request(protocol.Guess(value=secret), protocol.Hint)
    assert hint.result == "correct" and hint.tries_used == 2  # the refused guess used no try
    ended = ann.expect(protocol.RoundEnded)
    assert (ended.outcome, ended.winner, ended.secret) == ("won", "ann", secret)
    assert ended.game_id is not None
    nxt = ann.expect(protocol.RoundStarted)
    assert nxt.round == 2
    ann.request(protocol.Leave(), protocol.LeftGame)


def test_single_all_attempts_used(srv: Running) -> None:
    ann = srv.player("ann")
    ann.request(protocol.Play(mode="single"), protocol.RoundStarted)
    secret = srv.single_secret("ann")
    for value in wrong(secret)[:5]:
        ann.request(protocol.Guess(value=value), protocol.Hint)
    ended = ann.expect(protocol.RoundEnded)
    assert ended.outcome == "failed" and ended.secret == secret
    assert ann.expect(protocol.RoundStarted).round == 2


def join_room(srv: Running, *names: str, room: str = "main") -> list[Peer]:
    peers = []
    for name in names:
        peer = srv.player(name)
        peer.request(protocol.Play(mode="multi", room=room), protocol.RoundStarted)
        peers.append(peer)
    return peers


def test_win_ends_round_for_everyone(srv: Running) -> None:
    ann, bob, cy = join_room(srv, "ann", "bob", "cy")
    secret = srv.room_secret()
    bob.request(protocol.Guess(value=wrong(secret)[0]), protocol.Hint)
    hint = cy.request(protocol.Guess(value=secret), protocol.Hint)
    assert hint.result == "correct"
    for peer in (ann, bob, cy):
        ended = peer.expect(protocol.RoundEnded)
        assert (ended.outcome, ended.winner, ended.secret, ended.round) == (
            "won", "cy", secret, 1)
        started = peer.expect(protocol.RoundStarted)
        assert started.round == 2 and started.tries_used == 0


@pytest.mark.parametrize("implementation", ["portable", "gil-holding"])
def test_a_room_plays_with_each_wakeup(make_server: Callable[..., Running],
                                       implementation: str) -> None:
    srv = make_server("--wakeup", implementation)
    assert srv.runtime.wakeup.name == implementation
    peers = join_room(srv, *(f"p{i}" for i in range(80)))  # a fan-out is a burst (> 64)
    peers[0].request(protocol.Guess(value=srv.room_secret()), protocol.Hint)
    for peer in peers:
        assert peer.expect(protocol.RoundEnded).winner == "p0"


def test_all_participants_fail(srv: Running) -> None:
    ann, bob = join_room(srv, "ann", "bob")
    secret = srv.room_secret()
    for value in wrong(secret)[:5]:
        ann.request(protocol.Guess(value=value), protocol.Hint)
    ann.refused(protocol.Guess(value=secret), "rejected")  # no tries left
    for value in wrong(secret)[:5]:
        bob.request(protocol.Guess(value=value), protocol.Hint)
    for peer in (ann, bob):
        ended = peer.expect(protocol.RoundEnded)
        assert ended.outcome == "failed" and ended.winner is None and ended.secret == secret


def test_join_mid_round_gets_full_tries(srv: Running) -> None:
    (ann,) = join_room(srv, "ann")
    secret = srv.room_secret()
    for value in wrong(secret)[:3]:
        ann.request(protocol.Guess(value=value), protocol.Hint)
    bob = srv.player("bob")
    started = bob.request(protocol.Play(mode="multi", room="main"), protocol.RoundStarted)
    assert started.round == 1 and started.tries_used == 0
    assert ann.expect(protocol.RoomUpdate).name == "bob"
    for value in wrong(secret)[:5]:
        assert bob.request(protocol.Guess(value=value), protocol.Hint).result != "correct"


def test_leave_mid_round_ends_it_for_the_rest(srv: Running) -> None:
    ann, bob = join_room(srv, "ann", "bob")
    secret = srv.room_secret()
    for value in wrong(secret)[:5]:
        ann.request(protocol.Guess(value=value), protocol.Hint)
    bob.request(protocol.Leave(), protocol.LeftGame)
    ended = ann.expect(protocol.RoundEnded)
    assert ended.outcome == "failed"
    assert ann.expect(protocol.RoomUpdate, lambda m: m.event == "left").name == "bob"


def test_dropped_connection_leaves_round_after_grace(
        make_server: Callable[..., Running]) -> None:
    srv = make_server("--resume-grace", "0.5")
    ann, bob = join_room(srv, "ann", "bob")
    secret = srv.room_secret()
    for value in wrong(secret)[:5]:
        ann.request(protocol.Guess(value=value), protocol.Hint)
    bob.close()
    assert ann.expect(protocol.RoundEnded).outcome == "failed"


def test_rooms_are_separate(srv: Running) -> None:
    (ann,) = join_room(srv, "ann", room="red")
    (bob,) = join_room(srv, "bob", room="blue")
    bob.request(protocol.Guess(value=srv.room_secret("blue")), protocol.Hint)
    assert bob.expect(protocol.RoundEnded).winner == "bob"
    ann.send(protocol.Who())
    ann.expect(protocol.Table)
    assert not any(isinstance(m, protocol.RoundEnded) for m in ann.inbox)


def test_guess_outside_game_and_before_name(srv: Running) -> None:
    peer = srv.player()
    peer.refused(protocol.SetName(name="x"), "hello_first")
    peer.hello()
    peer.refused(protocol.Play(mode="single"), "no_name")
    peer.request(protocol.SetName(name="ann"), protocol.Identified)
    peer.refused(protocol.Guess(value=3), "not_playing")
    peer.refused(protocol.Play(mode="chess"), "bad_mode")
    peer.refused(protocol.Play(mode="multi", room="no spaces!"), "bad_name")


@pytest.mark.parametrize("name", ["", "a" * 21, "bad name", "semi;colon", "ümlaut", "x\n"])
def test_bad_names(srv: Running, name: str) -> None:
    peer = srv.player()
    peer.hello()
    peer.refused(protocol.SetName(name=name), "bad_name")


def test_guest_name_taken(srv: Running) -> None:
    srv.player("ann")
    other = srv.player()
    other.hello()
    assert "already playing" in other.refused(protocol.SetName(name="ANN"), "name_taken").message


def test_version_mismatch(srv: Running) -> None:
    peer = srv.player()
    bye = peer.request(protocol.Hello(version=99), protocol.Bye)
    assert bye.reason == "version"
    assert peer.closed_within()


GARBAGE: list[bytes] = [
    b"not json at all",
    b'{"type":"guess","value":NaN}',
    b'{"type":"guess","value":1e309}',
    b'{"type":"guess","value":18446744073709551616}',
    b'{"type":"guess","value":true}',
    b'{"type":"guess","value":-3}',
    b"[1,2,3]",
    b'{"type":"kick","target":"ann"}',
    b'{"type":"list"}',
    b'{"type":"bogus"}',
    b'{"type":"play","mode":7}',
    b"\xff\xfe\xfd",
    b"[" * 2000 + b"]" * 2000,
]


def test_garbage_sender_does_not_disturb_a_player(srv: Running) -> None:
    (ann,) = join_room(srv, "ann")
    evil = srv.player("evil")
    for payload in GARBAGE:
        evil.send_payload(payload)
        error = evil.expect(protocol.Error)
        assert error.code
        assert ann.table(protocol.Who())[1] == [("ann",), ("evil",)]
    secret = srv.room_secret()
    assert ann.request(protocol.Guess(value=secret), protocol.Hint).result == "correct"
    evil.send_raw(struct.pack(">I", 2**32 - 1))
    assert evil.expect(protocol.Error).code == "bad_length"
    assert evil.closed_within()
    assert ann.request(protocol.Who(), protocol.Table).rows


def test_plaintext_on_tls_port(srv: Running) -> None:
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as raw:
        raw.sendall(struct.pack(">I", 15) + b'{"type":"quit"}')
        try:
            data = raw.recv(1024)
        except ConnectionResetError:
            data = b""
        assert b"quit" not in data
    ann = srv.player("ann")
    assert ann.request(protocol.Who(), protocol.Table)


def test_silent_tls_client_is_cut_at_handshake_deadline(
        make_server: Callable[..., Running]) -> None:
    running = make_server("--handshake-timeout", "0.5")
    with socket.create_connection(("127.0.0.1", running.port), timeout=5) as raw:
        raw.settimeout(5)
        assert raw.recv(1) == b""  # the server gave up on us and closed
    assert running.player("ann")


def test_no_tls_session_tickets(srv: Running) -> None:
    ann = srv.player("ann")
    assert ann.request(protocol.Who(), protocol.Table)  # after the handshake's last flight
    assert ann.sock.version() == "TLSv1.3"
    assert ann.sock.session is not None and not ann.sock.session.has_ticket


def test_untrusted_server_certificate_is_refused(srv: Running, tmp_path: object) -> None:
    from pathlib import Path

    from guessnet.launch import certificates
    other = Path(str(tmp_path)) / "other-ca"
    certificates.ensure_certs(other, ["127.0.0.1"])
    with pytest.raises(ssl.SSLCertVerificationError):
        Peer(srv.port, other / "ca.pem")


def test_shutdown_tells_clients(make_server: Callable[..., Running]) -> None:
    from guessnet.launch import startup
    running = make_server()
    ann = running.player("ann")
    startup.stop(running.runtime, grace=2.0)
    bye = ann.expect(protocol.Bye)
    assert bye.reason == "shutdown"
    assert ann.closed_within()


def test_the_servers_own_channels_are_no_game_rooms(srv: Running) -> None:
    ann = srv.player("ann")
    for room in ("lobby", "LOBBY", "admin", "players"):
        error = ann.refused(protocol.Play(mode="multi", room=room), "bad_name")
        assert "not a game room" in error.message
    assert ann.request(protocol.Play(mode="multi", room="lobby2"), protocol.RoundStarted)


def test_a_feature_may_not_answer_what_the_session_answers_itself() -> None:
    from guessnet.sessions.session import handler_table

    def answer(session: object, msg: object) -> None:
        """A feature's handler (never called here)."""

    for kind in (protocol.Hello, protocol.Quit, protocol.Pong):
        with pytest.raises(ValueError, match="answered by the session itself"):
            handler_table({kind: answer})
    with pytest.raises(ValueError, match="two handlers"):
        handler_table({protocol.Guess: answer}, {protocol.Guess: answer})
    assert handler_table({protocol.Guess: answer}) == {protocol.Guess: answer}
