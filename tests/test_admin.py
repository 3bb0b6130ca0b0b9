"""The admin port: mutual TLS, pushed events, listings and moderation, end to end."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import pytest

import protocol
from guessnet.client.render import message_text
from guessnet.launch import certificates
from guessnet.net import tlsconf
from guessnet.services.channels import ADMIN_BATCH
from guessnet.storage.base import ADMIN_CHANNEL, JSONDict
from tests.conftest import LogWatch, Peer, Running


def event(admin: Peer, kind: str, text: str = "") -> protocol.AdminEvent:
    return admin.expect(protocol.AdminEvent, lambda e: e.kind == kind and text in e.text)


def test_connect_and_disconnect_events_with_real_peer_address(srv: Running) -> None:
    admin = srv.admin()
    ann = srv.player()
    connected = event(admin, "connected")
    assert connected.peer == ann.address  # the player's real ip:port
    ann.join_as("ann")
    assert event(admin, "named").name == "ann"
    title, rows = admin.table(protocol.ListPlayers())
    assert [(r[1], r[2]) for r in rows] == [(ann.address, "ann")]
    assert title == "1 player socket"
    ann.request(protocol.Quit(), protocol.Bye)
    gone = event(admin, "disconnected")
    assert gone.peer == ann.address and "quit" in gone.text
    assert admin.table(protocol.ListPlayers())[1] == []


def test_dropped_connection_is_reported(srv: Running) -> None:
    admin = srv.admin()
    ann = srv.player("ann")
    ann.close()
    assert "dropped" in event(admin, "disconnected").text


def test_game_events_and_rooms(srv: Running) -> None:
    admin = srv.admin()
    ann = srv.player("ann")
    ann.request(protocol.Play(mode="multi", room="den"), protocol.RoundStarted)
    assert event(admin, "joined").room == "den"
    secret = srv.room_secret("den")
    ann.request(protocol.Guess(value=secret), protocol.Hint)
    ended = event(admin, "round_ended")
    assert ended.name == "ann" and str(secret) in ended.text
    _, rows = admin.table(protocol.ListRooms())
    assert rows == [("den", 2, 1, "ann (0/5)")]
    ann.request(protocol.Leave(), protocol.LeftGame)
    assert event(admin, "left").name == "ann"


def test_list_shows_tries_this_round(srv: Running) -> None:
    admin = srv.admin()
    ann = srv.player("ann")
    ann.request(protocol.Play(mode="multi"), protocol.RoundStarted)
    secret = srv.room_secret()
    ann.request(protocol.Guess(value=1 if secret != 1 else 2), protocol.Hint)
    _, rows = admin.table(protocol.ListPlayers())
    assert rows[0][2:5] == ("ann", "room main", 1)


def test_stats(srv: Running) -> None:
    admin = srv.admin()
    ann = srv.player("ann")
    ann.request(protocol.Play(mode="single"), protocol.RoundStarted)
    ann.request(protocol.Guess(value=srv.single_secret("ann")), protocol.Hint)
    ann.expect(protocol.RoundEnded)
    _, rows = admin.table(protocol.Stats())
    stats = dict(rows)
    assert stats["players online"] == 1
    assert stats["rounds played"] == "1" and stats["rounds won"] == "1"
    assert stats["correct answers"] == "1" and stats["games on record"] == 1


def test_kick_by_name_and_id(srv: Running) -> None:
    admin = srv.admin()
    ann = srv.player("ann")
    bob = srv.player("bob")
    ok = admin.request(protocol.Kick(target="ann", reason="be nice"), protocol.Ok)
    assert "ann" in ok.message
    bye = ann.expect(protocol.Bye)
    assert bye.reason == "kicked" and "be nice" in bye.message
    assert ann.closed_within()
    assert "kicked" in event(admin, "disconnected", "ann").text
    bob_id = next(r[0] for r in admin.table(protocol.ListPlayers())[1] if r[2] == "bob")
    admin.request(protocol.Kick(target=bob_id), protocol.Ok)
    assert bob.expect(protocol.Bye).reason == "kicked"
    assert admin.refused(protocol.Kick(target="nobody"), "not_found")


def test_say_and_msg(srv: Running) -> None:
    admin = srv.admin()
    ann = srv.player("ann")
    bob = srv.player("bob")
    admin.request(protocol.Say(text="server restarts at noon"), protocol.Ok)
    for peer in (ann, bob):
        notice = peer.expect(protocol.Notice)
        assert (notice.sender, notice.text) == ("admin", "server restarts at noon")
    admin.request(protocol.DirectMessage(to="bob", text="hi bob"), protocol.Ok)
    private = bob.expect(protocol.Chat)  # not like a broadcast: a private line from admin
    assert (private.sender, private.text, private.private) == ("admin", "hi bob", True)
    assert message_text(private, "bob", None) == "[private] admin: hi bob"
    ann.request(protocol.Who(), protocol.Table)
    assert not any(isinstance(m, protocol.Notice | protocol.Chat) for m in ann.inbox)
    admin.refused(protocol.DirectMessage(to="zed", text="x"), "not_online")


def test_several_admins_each_get_every_event(srv: Running) -> None:
    first, second = srv.admin(), srv.admin()
    srv.player("ann")
    for admin in (first, second):
        assert event(admin, "named").name == "ann"


def test_no_client_certificate_is_refused(srv: Running, server_log: LogWatch) -> None:
    context = tlsconf.client_context(srv.certs / "ca.pem")
    with socket.create_connection(("127.0.0.1", srv.admin_port), timeout=5) as raw, \
            pytest.raises((ssl.SSLError, ConnectionError, EOFError)), \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.settimeout(5)
        # Under TLS 1.3 the refusal arrives after the handshake: it surfaces on the first read.
        tls.sendall(protocol.encode(protocol.Hello(version=1)))
        if not tls.recv(1024):
            raise EOFError("closed")
    server_log.wait_for("admin port", "refused")


def test_player_role_certificate_is_refused(srv: Running, tmp_path: Path,
                                           server_log: LogWatch) -> None:
    cert, key = tmp_path / "p.pem", tmp_path / "p.key"
    certificates.issue_client_cert(srv.certs, "mallory", "player", cert, key)
    peer = srv.admin(cert=cert, key=key, greet=False)
    bye = peer.expect(protocol.Bye)
    assert bye.reason == "refused" and "admin role" in bye.message
    assert peer.closed_within()
    server_log.wait_for("not admin")


def test_certificate_from_another_ca_is_refused(srv: Running, tmp_path: Path) -> None:
    other = tmp_path / "other"
    certificates.ensure_certs(other, ["127.0.0.1"])
    peer: Peer | None = None
    with pytest.raises((ssl.SSLError, ConnectionError, EOFError)):
        peer = Peer(srv.admin_port, srv.certs / "ca.pem", cert=other / "admin.pem",
                    key=other / "admin.key", accepted=protocol.SERVER_TO_ADMIN)
        srv.peers.append(peer)
        peer.send(protocol.Hello(version=1))
        peer.expect(protocol.Welcome)


def test_issued_admin_certificate_works(srv: Running, tmp_path: Path) -> None:
    cert, key = tmp_path / "admin-bob.pem", tmp_path / "admin-bob.key"
    certificates.issue_client_cert(srv.certs, "bob", tlsconf.ADMIN_ROLE, cert, key)
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    admin = srv.admin(cert=cert, key=key)
    assert admin.table(protocol.Stats())[1]


def test_players_cannot_send_admin_commands(srv: Running) -> None:
    ann = srv.player("ann")
    for payload in (b'{"type":"kick","target":"ann"}', b'{"type":"list"}',
                    b'{"type":"stats"}', b'{"type":"rooms"}'):
        ann.send_payload(payload)
        assert ann.expect(protocol.Error).code == "unknown_type"
    assert ann.request(protocol.Who(), protocol.Table).rows == (("ann",),)


def test_history_and_replay_for_admin(srv: Running) -> None:
    admin = srv.admin()
    ann = srv.player("ann")
    ann.request(protocol.Play(mode="single"), protocol.RoundStarted)
    secret = srv.single_secret("ann")
    ann.request(protocol.Guess(value=secret), protocol.Hint)
    game_id = ann.expect(protocol.RoundEnded).game_id
    assert game_id is not None
    _, rows = admin.table(protocol.History(limit=5))
    assert rows[0][0] == game_id and rows[0][5] == "won by ann"
    title, moves = admin.table(protocol.Replay(game_id=game_id))
    assert f"the number was {secret}" in title
    assert [(m[2], m[3], m[4]) for m in moves] == [("ann", secret, "correct")]


def test_a_burst_of_events_goes_out_in_a_few_publishes_and_arrives_whole_in_order(
        srv: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    admin = srv.admin()
    bus = srv.backends.bus
    publishes: list[JSONDict] = []
    publish = bus.publish

    def counted(channel: str, payload: JSONDict) -> None:
        if channel == ADMIN_CHANNEL:
            publishes.append(payload)
        publish(channel, payload)

    monkeypatch.setattr(bus, "publish", counted)
    burst = 120  # well within one beat (ADMIN_EVERY): a few beats at most, 50 events each
    for i in range(burst):
        srv.services.channels.admin_event("named", f"burst {i}", log_as=None)
    got = [event(admin, "named", "burst ").text for _ in range(burst)]
    assert got == [f"burst {i}" for i in range(burst)]
    sizes = [len(p["msgs"]) if "msgs" in p else 1 for p in publishes]
    assert sum(sizes) == burst and max(sizes) <= ADMIN_BATCH
    assert len(publishes) <= 6, sizes  # one a beat (or two: 50 at most in one), not one an event
