"""Heartbeats, resume tokens, limits, slow readers: what a real network does to a server."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

import protocol
from guessnet.support import logs
from tests.conftest import LogWatch, Peer, Running


def named(srv: Running, name: str) -> tuple[Peer, str]:
    peer = srv.player()
    peer.hello()
    identified = peer.request(protocol.SetName(name=name), protocol.Identified)
    assert identified.resume_token
    return peer, identified.resume_token


def test_heartbeat_drops_a_silent_client(make_server: Callable[..., Running]) -> None:
    srv = make_server("--heartbeat", "0.3", "--resume-grace", "0")
    admin = srv.admin()
    mute = srv.player("mute")  # from now on it reads nothing, so answers no ping
    started = time.monotonic()
    event = admin.expect(protocol.AdminEvent,
                         lambda e: e.kind == "disconnected" and "mute" in e.text, timeout=5)
    assert "timed out" in event.text
    assert time.monotonic() - started < 0.3 * 3 + 1.0  # within 3 intervals (and a tick)
    mute.close()


def test_answering_client_stays_and_rtt_is_measured(make_server: Callable[..., Running]
                                                    ) -> None:
    srv = make_server("--heartbeat", "0.2")
    ann = srv.player("ann")
    ann.answer_pings(3)  # the server measured the round trip of at least two of them
    admin = srv.admin()  # (it reads only when asked: connected now, it answers in time)
    rtt = admin.table(protocol.ListPlayers())[1][0][6]
    assert rtt.endswith(" ms")
    ann.send(protocol.Ping(nonce=42))
    assert ann.expect(protocol.Pong).nonce == 42


def test_resume_within_grace_keeps_room_and_tries(srv: Running) -> None:
    ann, token = named(srv, "ann")
    ann.request(protocol.Play(mode="multi"), protocol.RoundStarted)
    secret = srv.room_secret()
    misses = [v for v in range(1, 11) if v != secret][:2]
    for value in misses:
        ann.request(protocol.Guess(value=value), protocol.Hint)
    bob = srv.player("bob")
    bob.request(protocol.Play(mode="multi"), protocol.RoundStarted)
    ann.close()  # the Wi-Fi drops
    back = srv.player()
    back.hello()
    identified = back.request(protocol.Resume(token=token), protocol.Identified)
    assert identified.name == "ann" and identified.resume_token not in (None, token)
    started = back.expect(protocol.RoundStarted)
    assert (started.room, started.round, started.tries_used) == ("main", 1, 2)
    hint = back.request(protocol.Guess(value=secret), protocol.Hint)
    assert hint.tries_used == 3 and hint.result == "correct"
    assert bob.expect(protocol.RoundEnded).winner == "ann"


def test_reused_or_stolen_token_is_refused(srv: Running, server_log: LogWatch,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # the refusals this address met in earlier tests (this process's last minute) would
    # leave this one's line out, as noise
    monkeypatch.setattr(logs, "_noise", logs._Noise())
    ann, token = named(srv, "ann")
    ann.close()
    first = srv.player()
    first.hello()
    first.request(protocol.Resume(token=token), protocol.Identified)
    again = srv.player()
    again.hello()
    again.refused(protocol.Resume(token=token), "bad_token")  # single use
    thief = srv.player()
    thief.hello()
    thief.refused(protocol.Resume(token="x" * 43), "bad_token")
    server_log.wait_for("resume refused")


def test_seat_released_after_grace(make_server: Callable[..., Running]) -> None:
    srv = make_server("--resume-grace", "0.3")
    ann, token = named(srv, "ann")
    admin = srv.admin()
    ann.close()
    admin.expect(protocol.AdminEvent, lambda e: e.kind == "left" and "released" in e.text)
    late = srv.player()
    late.hello()
    late.refused(protocol.Resume(token=token), "bad_token")
    late.request(protocol.SetName(name="ann"), protocol.Identified)  # the name is free again


def test_resume_while_old_connection_lingers(srv: Running) -> None:
    """The client noticed the drop before the server did: the new connection wins."""
    ann, token = named(srv, "ann")
    back = srv.player()
    back.hello()
    back.request(protocol.Resume(token=token), protocol.Identified)
    assert ann.expect(protocol.Bye).reason == "replaced"
    assert back.request(protocol.Who(), protocol.Table).rows == (("ann",),)


def test_server_full_and_per_peer_limit(make_server: Callable[..., Running]) -> None:
    srv = make_server("--max-connections", "2")
    srv.player("ann")
    srv.player("bob")
    third = srv.player()
    error = third.expect(protocol.Error)
    assert error.code == "server_full" and "server full" in error.message
    assert third.closed_within()
    per_peer = make_server("--max-per-peer", "1")
    per_peer.player("ann")
    refused = per_peer.player()
    assert "too many connections" in refused.expect(protocol.Error).message


def test_idle_before_name_is_cut(make_server: Callable[..., Running]) -> None:
    srv = make_server("--idle-timeout", "0.5")
    idle = srv.player()
    idle.hello()
    bye = idle.expect(protocol.Bye, timeout=5)
    assert bye.reason == "idle"


def test_byte_a_second_drip_is_cut_at_frame_deadline(make_server: Callable[..., Running]
                                                     ) -> None:
    srv = make_server("--frame-timeout", "1")
    drip = srv.player()
    frame = protocol.encode(protocol.Hello(version=1))
    started = time.monotonic()
    for byte in frame[:6]:
        drip.send_raw(bytes([byte]))
        if drip.closed_within(0.3):
            break
    assert drip.closed_within(3)
    assert time.monotonic() - started < 4


def test_slow_reader_does_not_delay_a_round_end(make_server: Callable[..., Running]) -> None:
    srv = make_server("--outbox-kb", "64", "--max-rate", "1000")
    admin = srv.admin()
    players = [srv.player(f"p{i}") for i in range(20)]
    for peer in players:
        peer.request(protocol.Play(mode="multi"), protocol.RoundStarted)
    slow = srv.player("slow", rcvbuf=4096)  # from now on it never reads
    slow.request(protocol.Play(mode="multi"), protocol.RoundStarted)

    def drain(peer: Peer) -> None:  # the others read everything, as clients do
        peer.expect(protocol.Notice, lambda n: n.text == "end", timeout=20)
        peer.inbox.clear()

    readers = [threading.Thread(target=drain, args=(p,)) for p in players]
    for reader in readers:
        reader.start()
    for _ in range(200):  # ~580 KB: far more than the slow reader's buffers and outbox
        admin.send(protocol.Say(text="x" * 2900))
    admin.send(protocol.Say(text="end"))
    for reader in readers:
        reader.join(timeout=25)
    gone = admin.expect(protocol.AdminEvent,
                        lambda e: e.kind == "disconnected" and "slow" in e.text, timeout=10)
    assert "slow reader" in gone.text
    started = time.monotonic()
    players[1].send(protocol.Guess(value=srv.room_secret()))
    for peer in players:
        peer.expect(protocol.RoundEnded)
    assert time.monotonic() - started < 2.0
