"""The host's toolkit end to end: the real aclient drives bans, mutes, renames, a room's pace
and exports; players (test peers, and the real pclient) see what a class would see."""

from __future__ import annotations

import csv
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import protocol
from guessnet.wire.text import parse_duration
from tests.conftest import ROOT, Peer, Running, scaled_backends
from tests.procs import PY, OutputLines, ServerProcess


def admin(port: int, certs: Path, *commands: str) -> str:
    """Run the real aclient with ``commands`` piped in; its whole output."""
    result = subprocess.run(
        [PY, str(ROOT / "aclient.py"), "--port", str(port), "--cert", str(certs / "admin.pem"),
         "--key", str(certs / "admin.key"), "--cafile", str(certs / "ca.pem")],
        input="\n".join([*commands, "/q"]) + "\n", capture_output=True, text=True, timeout=30,
        cwd=ROOT)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    return result.stdout


def said(text: str) -> Callable[[protocol.Chat], bool]:
    return lambda chat: chat.text == text


def round_is(number: int) -> Callable[[protocol.RoundStarted], bool]:
    return lambda started: started.round == number


def test_durations_read_as_hosts_write_them() -> None:
    assert [parse_duration(t) for t in ("1h10m", "30m", "2d", "90s", "90", "0")] == \
        [4200, 1800, 172_800, 90, 90, 0]
    assert [parse_duration(t) for t in ("", "1x", "h", "-5", "400d")] == [None] * 5


def test_a_banned_player_is_told_why_and_stays_out_until_it_ends(srv: Running) -> None:
    ann, bob = srv.player("ann"), srv.player("bob")
    out = admin(srv.admin_port, srv.certs, "ban ann 1h name-calling", "bans")
    assert "banned name ann until" in out and "name-calling" in out
    assert "1 sanction in force (bans and mutes)" in out
    bye = ann.expect(protocol.Bye)
    assert bye.reason == "banned" and "until" in bye.message and "name-calling" in bye.message
    back = srv.player()
    back.hello()
    assert "banned by the host until" in back.refused(protocol.SetName(name="ANN"),
                                                      "banned").message
    assert bob.request(protocol.Who(), protocol.Table)  # nobody else is touched
    out = admin(srv.admin_port, srv.certs, "unban ann")
    assert "lifted" in out
    back.request(protocol.SetName(name="ann"), protocol.Identified)


def test_an_address_ban_closes_its_players_and_refuses_it_at_the_door(srv: Running) -> None:
    mallory = srv.player("mallory", source="127.0.0.9")
    ann = srv.player("ann", source="127.0.0.1")
    admin(srv.admin_port, srv.certs, "ban 127.0.0.9 30m")
    assert mallory.expect(protocol.Bye).reason == "banned"
    again = srv.player(source="127.0.0.9")
    bye = again.expect(protocol.Bye)  # right after the handshake, before any hello
    assert bye.reason == "banned" and "this address is banned" in bye.message
    assert again.closed_within()
    ann.request(protocol.Play(mode="single"), protocol.RoundStarted)  # another address plays


def test_a_ban_ends_on_time(srv: Running) -> None:
    srv.services.moderation.ban("name", "ann", 1, "", "test")
    peer = srv.player()
    peer.hello()
    peer.refused(protocol.SetName(name="ann"), "banned")
    deadline = time.monotonic() + 5
    while True:  # one second, then the name is free again
        peer.send(protocol.SetName(name="ann"))
        answer = peer.expect(protocol.Message, lambda m: isinstance(
            m, protocol.Identified | protocol.Error))
        if isinstance(answer, protocol.Identified):
            break
        assert time.monotonic() < deadline, answer
        threading.Event().wait(0.2)  # a poll interval under the rate limit, not a sync


def test_a_ban_outlives_a_restart(tmp_path: Path, certs: Path) -> None:
    first = ServerProcess(tmp_path, certs).start()
    try:
        admin(first.admin_port, certs, "ban ann 1h", "ban 10.9.9.9 1h spam")
    finally:
        first.stop()
    second = ServerProcess(tmp_path, certs).start()
    try:
        out = admin(second.admin_port, certs, "bans")
        assert "ann" in out and "10.9.9.9" in out and "spam" in out
        peer = second.peer()
        peer.hello()
        peer.refused(protocol.SetName(name="ann"), "banned")
        peer.close()
    finally:
        second.stop()


def test_a_ban_set_on_one_process_holds_on_another(make_server: Callable[..., Running],
                                                   redis_url: str) -> None:
    a = make_server("--instance-id", "A", backends=scaled_backends(redis_url, None))
    b = make_server("--instance-id", "B", backends=scaled_backends(redis_url, None))
    ann = b.player("ann")
    admin(a.admin_port, a.certs, "ban ann 10m", "mute bob 10m")
    assert ann.expect(protocol.Bye, timeout=10).reason == "banned"  # evicted on B
    peer = b.player()
    peer.hello()
    peer.refused(protocol.SetName(name="ann"), "banned")
    bob = b.player("bob")
    bob.refused(protocol.Say(text="hello"), "muted")


def test_a_muted_players_chat_reaches_no_one(srv: Running) -> None:
    ann, bob, cy = srv.player("ann"), srv.player("bob"), srv.player("cy")
    out = admin(srv.admin_port, srv.certs, "mute ann 10m")
    assert "muted ann until" in out
    refused = ann.refused(protocol.Say(text="you are all idiots"), "muted")
    assert "the host muted you until" in refused.message
    cy.request(protocol.Say(text="hello all"), protocol.Chat)
    first = bob.expect(protocol.Chat)  # what bob hears next is cy: nothing of ann's
    assert (first.sender, first.text) == ("cy", "hello all")
    admin(srv.admin_port, srv.certs, "mute ann 0")
    ann.request(protocol.Say(text="sorry"), protocol.Chat)


def test_the_host_renames_a_guest_and_an_account(srv: Running) -> None:
    guest = srv.player("sh1thead")
    owner = srv.player()
    owner.hello()
    owner.request(protocol.Register(name="rudename", password="a-password"),
                  protocol.Identified)
    owner.request(protocol.Play(mode="single"), protocol.RoundStarted)
    out = admin(srv.admin_port, srv.certs, "rename sh1thead kiwi", "rename rudename mango")
    assert "sh1thead is now kiwi" in out and "rudename is now mango" in out
    assert guest.expect(protocol.Identified).name == "kiwi"
    assert "renamed you" in guest.expect(protocol.Notice).text
    assert owner.expect(protocol.LeftGame)  # out of the game first
    assert owner.expect(protocol.Identified).name == "mango"
    _, rows = guest.table(protocol.Who())
    assert [r[0] for r in rows] == ["kiwi", "mango"]
    again = srv.player()
    again.hello()
    assert again.request(protocol.Login(name="mango", password="a-password"),
                         protocol.Identified).account  # the account moved with its password
    again.refused(protocol.Login(name="rudename", password="a-password"), "bad_login")


@pytest.fixture
def filtered(make_server: Callable[..., Running], tmp_path: Path) -> Running:
    words = tmp_path / "words.txt"
    words.write_text("# a class's list\nbad\nre:fo+bar\n")
    return make_server("--word-filter", str(words))


def test_the_word_filter_sees_through_obfuscations_without_echoing(filtered: Running) -> None:
    peer = filtered.player()
    peer.hello()
    for name in ("B4d_guy", "baaaad", "xB-A-Dx"):
        error = peer.refused(protocol.SetName(name=name), "bad_name")
        assert "not allowed" in error.message and name not in error.message
    peer.request(protocol.SetName(name="badger"[:2] + "nana"), protocol.Identified)
    assert "not allowed" in peer.refused(protocol.Play(mode="multi", room="f00bar"),
                                         "bad_name").message
    refused = peer.refused(protocol.Say(text="this is b.a.d, really"), "filtered")
    assert "b.a.d" not in refused.message
    peer.request(protocol.Say(text="this is fine"), protocol.Chat)


def test_a_paused_room_refuses_guesses_and_resumes_with_its_clock(
        make_server: Callable[..., Running]) -> None:
    srv = make_server("--round-time", "60")
    ann, bob = srv.player("ann"), srv.player("bob")
    for peer in (ann, bob):
        peer.request(protocol.Play(mode="multi"), protocol.RoundStarted)
    wrong = 1 if srv.room_secret() != 1 else 2
    ann.request(protocol.Guess(value=wrong), protocol.Hint)  # the clock starts
    assert "room main: paused" in admin(srv.admin_port, srv.certs, "pause main")
    for peer in (ann, bob):
        peer.expect(protocol.Notice, lambda n: "paused" in n.text)  # (after the clock's)
    paused = bob.expect(protocol.RoundStarted, lambda m: m.paused)
    assert "the host paused room" in bob.refused(protocol.Guess(value=wrong), "rejected").message
    left = paused.time_left
    admin(srv.admin_port, srv.certs, "resume main")
    resumed = bob.expect(protocol.RoundStarted, lambda m: not m.paused)
    assert resumed.time_left is not None and left is not None
    assert left - 2 <= resumed.time_left <= left  # the clock stood still while paused
    bob.request(protocol.Guess(value=wrong), protocol.Hint)


def test_next_lock_and_rules_shape_a_rooms_rounds(srv: Running) -> None:
    ann = srv.player("ann")
    ann.request(protocol.Play(mode="multi"), protocol.RoundStarted)
    out = admin(srv.admin_port, srv.certs, "lock main",
                "rules main range 1-1 tries 3 time off", "next main")
    assert "locked" in out and "new rules" in out and "the round was ended" in out
    ended = ann.expect(protocol.RoundEnded)
    assert (ended.outcome, ended.secret) == ("stopped", srv.room_secret())
    started = ann.expect(protocol.RoundStarted, lambda m: m.round == 2)
    assert (started.low, started.high, started.tries, started.time_limit) == (1, 1, 3, None)
    late = srv.player("late")
    assert "locked" in late.refused(protocol.Play(mode="multi"), "rejected").message
    admin(srv.admin_port, srv.certs, "unlock main")
    late.request(protocol.Play(mode="multi"), protocol.RoundStarted)
    assert "no room" in admin(srv.admin_port, srv.certs, "pause nowhere")


def test_an_export_matches_the_rounds_played(srv: Running, tmp_path: Path) -> None:
    ann, bob = srv.player(), srv.player()
    for peer, name in ((ann, "ann"), (bob, "bob")):
        peer.hello()
        peer.request(protocol.Register(name=name, password="a-password"), protocol.Identified)
        peer.request(protocol.Play(mode="multi"), protocol.RoundStarted)
    secret = srv.room_secret()
    wrong = 1 if secret != 1 else 2
    for round_number in (1, 2):
        bob.request(protocol.Guess(value=wrong), protocol.Hint)
        ann.send(protocol.Guess(value=secret))
        for peer in (ann, bob):
            peer.expect(protocol.RoundStarted, round_is(round_number + 1))
    target = tmp_path / "class results.csv"
    out = admin(srv.admin_port, srv.certs, f"export {target}".replace(" results", "_results"))
    target = tmp_path / "class_results.csv"
    assert "Wrote 2 games" in out, out
    with target.open(encoding="utf-8-sig", newline="") as games:
        rows = list(csv.DictReader(games))
    assert [(r["room"], r["round"], r["winner"], r["number"], r["tries used"]) for r in rows] == \
        [("main", "1", "ann", str(secret), "ann 1; bob 1"),
         ("main", "2", "ann", str(secret), "ann 1; bob 1")]
    with (tmp_path / "class_results-leaders.csv").open(encoding="utf-8-sig") as leaders:
        board = [r for r in csv.DictReader(leaders) if r["board"] == "multi"]
    assert [(r["player"], r["wins"], r["played"]) for r in board] == \
        [("ann", "2", "2"), ("bob", "0", "2")]


def test_late_arrivals_see_the_last_chat_and_watchers_follow_a_room(srv: Running) -> None:
    ann, cy, dee = srv.player("ann"), srv.player("cy"), srv.player("dee")
    for peer in (ann, cy, dee):
        peer.request(protocol.Play(mode="multi"), protocol.RoundStarted)
    for i in range(25):  # three speakers: each stays inside the chat burst
        speaker = (ann, cy, dee)[i // 9]
        speaker.send(protocol.Say(text=f"line {i}"))
        speaker.expect(protocol.Chat, said(f"line {i}"))
    cy.request(protocol.Leave(), protocol.LeftGame)
    dee.request(protocol.Leave(), protocol.LeftGame)
    bob = srv.player("bob")
    bob.request(protocol.Play(mode="multi"), protocol.RoundStarted)
    earlier = [bob.expect(protocol.Chat) for _ in range(20)]
    assert all(c.earlier for c in earlier) and earlier[0].text == "line 5"
    eve = srv.player("eve")
    assert "watching room main" in eve.request(protocol.Watch(room="main"),
                                               protocol.Ok).message
    wrong = 1 if srv.room_secret() != 1 else 2
    bob.request(protocol.Guess(value=wrong), protocol.Hint)
    seen = eve.expect(protocol.Guessed)
    assert (seen.name, seen.value, seen.tries_left) == ("bob", wrong, 4)
    eve.request(protocol.Say(text="go bob"), protocol.Chat)  # a watcher chats in the room
    assert bob.expect(protocol.Chat, lambda c: not c.earlier).sender == "eve"
    for _ in range(4):  # bob uses every try, ann leaves: the round fails (eve does not count)
        bob.request(protocol.Guess(value=wrong), protocol.Hint)
    ann.request(protocol.Leave(), protocol.LeftGame)
    assert eve.expect(protocol.RoundEnded).outcome == "failed"
    eve.request(protocol.Watch(), protocol.Ok)  # stops


def test_watching_a_match(srv: Running) -> None:
    ann, eve = srv.player("ann"), srv.player("eve")
    ann.request(protocol.Play(mode="tictactoe"), protocol.Board)
    eve.request(protocol.Watch(room="ann"), protocol.Ok)
    assert eve.expect(protocol.Board).you is None
    ann.request(protocol.Move(cell="1"), protocol.Board)
    assert eve.expect(protocol.Board).board.startswith("X")
    ann.request(protocol.Resign(), protocol.MatchEnded)
    assert eve.expect(protocol.MatchEnded).winner == "server"


def test_the_admin_console_knows_every_host_command(srv: Running) -> None:
    out = admin(srv.admin_port, srv.certs, "help", "ban", "rules main tries", "export")
    for command in ("ban NAME|ADDRESS DURATION", "unban", "bans", "mute NAME DURATION",
                    "rename NAME NEW", "pause ROOM", "resume ROOM", "next ROOM", "lock ROOM",
                    "unlock ROOM", "rules ROOM", "export FILE"):
        assert command in out, command
    assert out.count("Usage:") == 3
    assert isinstance(Peer, type)


def test_a_player_on_the_real_pclient_sees_the_hosts_hand(srv: Running, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [PY, str(ROOT / "pclient.py"), "--port", str(srv.port), "--cafile",
         str(srv.certs / "ca.pem"), "--log-dir", str(tmp_path / "clog")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=ROOT)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    out = OutputLines(proc.stdout)

    def typed(line: str) -> None:
        assert proc.stdin is not None
        proc.stdin.write(line + "\n")
        proc.stdin.flush()

    try:
        typed("alice")
        typed("2")
        out.containing("Rule Information in room main")
        admin(srv.admin_port, srv.certs, "pause main")
        out.containing("the host paused the game")
        typed("3")
        out.containing("the host paused room")
        admin(srv.admin_port, srv.certs, "resume main", "mute alice 5m")
        out.containing("the host resumed the game")
        typed("say hello class")
        out.containing("the host muted you until")
        admin(srv.admin_port, srv.certs, "rename alice ally")
        out.containing("ally")
        admin(srv.admin_port, srv.certs, "ban ally 10m rude names")
        assert "rude names" in out.containing("banned")
        assert proc.wait(timeout=10) == 1  # the server ended the session, not the player
        assert "Traceback" not in proc.stderr.read()
    finally:
        proc.kill()
        proc.wait(timeout=10)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            stream.close()
