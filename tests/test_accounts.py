"""Accounts, throttling, leaderboard and history through the real server."""

from __future__ import annotations

import time
from collections.abc import Callable

import protocol
from guessnet.services import passwords
from guessnet.services.passwords import Throttle
from guessnet.support import logs
from tests.conftest import Peer, Running

PASSWORD = "correct-horse-battery"


def register(srv: Running, name: str, password: str = PASSWORD) -> Peer:
    peer = srv.player()
    peer.hello()
    identified = peer.request(protocol.Register(name=name, password=password),
                              protocol.Identified)
    assert identified.account and identified.name == name
    peer.name = name
    return peer


def login(srv: Running, name: str, password: str = PASSWORD) -> Peer:
    peer = srv.player()
    peer.hello()
    peer.request(protocol.Login(name=name, password=password), protocol.Identified)
    peer.name = name
    return peer


def test_register_login_passwd_logout(srv: Running) -> None:
    ann = register(srv, "Ann")
    ann.request(protocol.Quit(), protocol.Bye)
    again = login(srv, "ann")  # names ignore case; the account keeps its spelling
    assert again.request(protocol.Who(), protocol.Table).rows == (("Ann",),)
    again.refused(protocol.ChangePassword(old="wrong-one", new="new-password"), "bad_login")
    again.refused(protocol.ChangePassword(old=PASSWORD, new="short"), "bad_password")
    again.refused(protocol.ChangePassword(old="wrong-one"), "bad_login")  # a check only
    assert again.request(protocol.ChangePassword(old=PASSWORD), protocol.Ok).message == \
        "the old password is right"
    again.request(protocol.ChangePassword(old=PASSWORD, new="new-password"), protocol.Ok)
    again.request(protocol.Logout(), protocol.Ok)
    again.refused(protocol.Play(mode="single"), "no_name")
    again.refused(protocol.Login(name="ann", password=PASSWORD), "bad_login")
    again.request(protocol.Login(name="ann", password="new-password"), protocol.Identified)


def test_wrong_old_passwords_are_throttled_like_logins(srv: Running) -> None:
    ann = register(srv, "ann")
    codes = [ann.refused(protocol.ChangePassword(old=f"guess-{i}")).code for i in range(7)]
    assert codes == ["bad_login"] * 6 + ["throttled"], codes
    started = time.monotonic()  # what it sends now is read only when its wait is over
    ann.request(protocol.ChangePassword(old=PASSWORD), protocol.Ok)
    assert 0.8 < time.monotonic() - started < 3


def test_wrong_password_and_unknown_user_look_alike(srv: Running) -> None:
    register(srv, "ann")
    peer = srv.player()
    peer.hello()
    wrong = peer.refused(protocol.Login(name="ann", password="nope-nope"), "bad_login")
    unknown = peer.refused(protocol.Login(name="zed", password="nope-nope"), "bad_login")
    assert wrong.message == unknown.message


def test_duplicate_and_bad_names(srv: Running) -> None:
    register(srv, "ann")
    peer = srv.player()
    peer.hello()
    peer.refused(protocol.Register(name="ANN", password=PASSWORD), "name_taken")
    for bad in ("", "x" * 21, "a b", "<script>", "tab\t"):
        peer.refused(protocol.Register(name=bad, password=PASSWORD), "bad_name")
    peer.refused(protocol.Register(name="bob", password="123"), "bad_password")
    assert "login" in peer.refused(protocol.SetName(name="Ann"), "name_taken").message


def test_second_login_closes_the_first(srv: Running) -> None:
    first = register(srv, "ann")
    first.request(protocol.Play(mode="multi"), protocol.RoundStarted)
    second = login(srv, "ann")
    bye = first.expect(protocol.Bye)
    assert bye.reason == "replaced" and "another connection" in bye.message
    assert first.closed_within()
    assert second.request(protocol.Who(), protocol.Table).rows == (("ann",),)
    assert second.request(protocol.Play(mode="multi"), protocol.RoundStarted).tries_used == 0


def test_login_throttled_after_five_failures(srv: Running) -> None:
    register(srv, "ann")
    peer = srv.player()
    peer.hello()
    for _ in range(5):
        peer.refused(protocol.Login(name="ann", password="guess-guess"), "bad_login")
    peer.refused(protocol.Login(name="ann", password="guess-guess"), "bad_login")
    error = peer.refused(protocol.Login(name="ann", password=PASSWORD), "throttled")
    assert "try again in" in error.message


def test_throttle_grows_is_capped_and_forgets() -> None:
    throttle = Throttle(free=5, base=1.0, cap=8.0, forget=100.0)
    waits = []
    for i in range(10):  # failures 9 s apart: each is allowed, none is refunded
        assert throttle.attempt("ann", "1.2.3.4", i * 9.0) == 0.0
        waits.append(throttle.wait_time("ann", "1.2.3.4", i * 9.0))
    assert waits[:5] == [0.0] * 5
    assert waits[5:] == [1.0, 2.0, 4.0, 8.0, 8.0]  # grows, then capped: never locked forever
    assert throttle.wait_time("ann", "1.2.3.4", 81.0 + 8.0) <= 0
    assert throttle.wait_time("ANN", "1.2.3.4", 81.0 + 101.0) == 0.0  # forgotten after a while
    throttle.attempt("ann", "1.2.3.4", 200.0)
    assert throttle.wait_time("ann", "1.2.3.4", 200.0) == 0.0


def test_scrypt_hash_format_and_verify() -> None:
    stored = passwords.hash_password("s3cret-pass")
    scheme, n, r, p, _salt, _digest = stored.split("$")
    assert scheme == "scrypt" and int(n) >= 2**14 and (r, p) == ("8", "1")
    assert passwords.verify_password("s3cret-pass", stored)
    assert not passwords.verify_password("s3cret-pasS", stored)
    assert stored != passwords.hash_password("s3cret-pass")  # per-user random salt
    assert not passwords.verify_password("x", "garbage")


def play_single_win(srv: Running, peer: Peer, misses: int = 0) -> int:
    peer.request(protocol.Play(mode="single"), protocol.RoundStarted)
    assert peer.name is not None
    secret = srv.single_secret(peer.name)
    for value in [v for v in range(1, 11) if v != secret][:misses]:
        peer.request(protocol.Guess(value=value), protocol.Hint)
    peer.request(protocol.Guess(value=secret), protocol.Hint)
    game_id = peer.expect(protocol.RoundEnded).game_id
    peer.expect(protocol.RoundStarted)
    peer.request(protocol.Leave(), protocol.LeftGame)
    assert game_id is not None
    return game_id


def test_leaderboard_order_and_separation(srv: Running) -> None:
    ann, bob = register(srv, "ann"), register(srv, "bob")
    guest = srv.player("guest1")
    play_single_win(srv, ann, misses=2)
    play_single_win(srv, bob, misses=0)
    play_single_win(srv, bob, misses=3)
    play_single_win(srv, guest)
    _, single = ann.table(protocol.Leaders(game="single"))
    assert [(r[2], r[3], r[4], r[5]) for r in single] == [("bob", 2, 2, 1), ("ann", 1, 1, 3)]
    assert single[0][6] == "100%"
    assert ann.table(protocol.Leaders(game="multi"))[1] == []
    ann.request(protocol.Play(mode="multi"), protocol.RoundStarted)
    ann.request(protocol.Guess(value=srv.room_secret()), protocol.Hint)
    ann.expect(protocol.RoundEnded)
    _, multi = ann.table(protocol.Leaders(game="multi"))
    assert [r[2] for r in multi] == ["ann"]
    _, everything = ann.table(protocol.Leaders())
    assert {r[0] for r in everything} == {"single", "multi"}
    ann.refused(protocol.Leaders(game="chess"), "bad_game")


def test_history_and_replay(srv: Running) -> None:
    ann = register(srv, "ann")
    first = play_single_win(srv, ann, misses=1)
    second = play_single_win(srv, ann)
    _, rows = ann.table(protocol.History(limit=10))
    assert [r[0] for r in rows] == [second, first]
    title, moves = ann.table(protocol.Replay(game_id=first))
    assert f"game #{first}" in title and "won by ann" in title
    assert [m[4] for m in moves][-1] == "correct" and len(moves) == 2
    ann.refused(protocol.Replay(game_id=999), "not_found")
    guest = srv.player("guest")
    guest.refused(protocol.History(limit=3), "not_logged_in")


def test_password_never_stored_or_logged_in_clear(make_server: Callable[..., Running]) -> None:
    srv = make_server("-v")  # verbose: every frame is logged, passwords must be redacted
    secret_password = "Unique-Pa55word-xyzzy"
    ann = register(srv, "ann", secret_password)
    ann.request(protocol.ChangePassword(old=secret_password, new=secret_password + "2"),
                protocol.Ok)
    ann.request(protocol.Quit(), protocol.Bye)
    needle = secret_password.encode()
    logs.flush()
    assert b"[RECV]" in (srv.log_dir / "server.log").read_bytes()
    for folder in (srv.data_dir, srv.log_dir):
        for path in folder.iterdir():
            assert needle not in path.read_bytes(), path
