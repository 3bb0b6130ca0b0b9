"""A player's and a host's first minutes with the real clients: the wrong port named, the
right one said, and the texts a newcomer reads (issue #25, items 6-10)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import protocol
from guessnet import wire
from guessnet.client.connection import NetThread
from guessnet.client.dial import CLIENT_LIMITS, not_greeted
from guessnet.net import tlsconf
from guessnet.net.conn import Connection
from tests.conftest import ROOT, Running
from tests.procs import PY, ServerProcess, Typist, serving_web


@pytest.fixture
def hosted(tmp_path: Path, certs: Path) -> Iterator[tuple[ServerProcess, int]]:
    proc = serving_web(tmp_path, certs)
    yield proc, proc.web_port
    proc.stop(signal.SIGKILL)


def run(script: str, args: list[str], stdin: str = "quit\n",
        timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, str(ROOT / script), *args], input=stdin, capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


def player_args(port: int, certs: Path, tmp_path: Path) -> list[str]:
    return ["--port", str(port), "--cafile", str(certs / "ca.pem"),
            "--log-dir", str(tmp_path / "clog")]


def admin_args(port: int, certs: Path) -> list[str]:
    return ["--port", str(port), "--cert", str(certs / "admin.pem"),
            "--key", str(certs / "admin.key"), "--cafile", str(certs / "ca.pem")]


def one_line_refusal(result: subprocess.CompletedProcess[str]) -> str:
    """The client failed at once with one line on standard error and no traceback."""
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert "reconnecting" not in result.stdout + result.stderr  # nothing to come back to
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_pclient_at_the_web_port_names_the_player_port(
        hosted: tuple[ServerProcess, int], tmp_path: Path) -> None:
    server, web_port = hosted
    result = run("pclient.py", player_args(web_port, server.certs, tmp_path), timeout=8)
    line = one_line_refusal(result)
    assert f"127.0.0.1:{web_port} is a web server" in line
    assert "use the player port (--port, default 4000)" in line
    assert "bad data" not in result.stdout


def test_pclient_at_the_admin_port_names_the_player_port(
        hosted: tuple[ServerProcess, int], tmp_path: Path) -> None:
    server, _ = hosted
    result = run("pclient.py", player_args(server.admin_port, server.certs, tmp_path),
                 timeout=8)
    line = one_line_refusal(result)
    assert "it is guessnet's admin port, not the player port" in line
    assert "use the player port (--port, default 4000)" in line


def test_aclient_at_the_web_port_names_the_admin_port(
        hosted: tuple[ServerProcess, int]) -> None:
    server, web_port = hosted
    result = run("aclient.py", admin_args(web_port, server.certs), timeout=8)
    line = one_line_refusal(result)
    assert "is a web server" in line and "use the admin port (--port, default 4001)" in line


@pytest.mark.parametrize("script", ["pclient.py", "aclient.py"])
@pytest.mark.parametrize("port", ["99999", "0", "http"])
def test_a_port_that_is_no_port_is_refused_before_dialling(script: str, port: str) -> None:
    result = run(script, ["--port", port], timeout=8)
    assert result.returncode == 2
    assert f"argument --port: {port!r} is not a port: use 1-65535" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def timed(make_server: Callable[..., Running]) -> Running:
    return make_server("--round-time", "60")


def a_miss(srv: Running) -> int:
    """A guess in 1-10 that is not the test server's secret."""
    return srv.secrets.value % 10 + 1


def test_a_player_who_has_not_guessed_is_told_the_clock_started(timed: Running,
                                                                tmp_path: Path) -> None:
    alice = Typist(timed.port, timed.certs / "ca.pem", tmp_path / "clog")
    try:
        alice.type("alice", "multi main")
        alice.out.containing("Rule Information in room main")
        bob = timed.player("bob")
        bob.request(protocol.Play(mode="multi", room="main"), protocol.RoundStarted)
        bob.request(protocol.Guess(value=a_miss(timed)), protocol.Hint)
        told = bob.expect(protocol.Notice)  # the first guesser is told too
        assert told.text == "your guess started the clock: round 1 ends in 60 s"
        line = alice.out.containing("the clock is running")
        assert "bob guessed first, so round 1 ends in 60 s" in line
        bob.request(protocol.Guess(value=a_miss(timed)), protocol.Hint)  # said once a round
        alice.type("who")
        alice.out.containing("online")
        assert not [m for m in bob.inbox if isinstance(m, protocol.Notice)]
    finally:
        assert "Traceback" not in alice.close()


def test_account_commands_check_the_name_first_and_never_take_a_password_inline(
        srv: Running, tmp_path: Path) -> None:
    carol = Typist(srv.port, srv.certs / "ca.pem", tmp_path / "clog")
    try:
        carol.type("register help")  # a command word: refused before any password prompt
        assert "'help' is a command word, not a name" in carol.out.containing("command word")
        carol.type("register no way")
        assert "shows on the screen" in carol.out.containing("Not sent")
        carol.type("login carol secret123")
        line = carol.out.containing("Not sent")
        assert "Type 'login NAME' and give the password when asked" in line
        carol.type("carol", "passwd", "who")  # a guest: told at once, 'who' still runs
        carol.out.containing("Guests have no password: 'register NAME' makes an account.")
        carol.out.containing("1 player online")
        carol.type("quit")
        assert "You quit: goodbye." in carol.out.containing("You quit")
        assert carol.proc.wait(timeout=10) == 0
    finally:
        errors = carol.close()
        assert "Traceback" not in errors and "Password" not in errors


def test_an_invitee_reads_about_themselves_in_the_second_person(srv: Running,
                                                                tmp_path: Path) -> None:
    carol = Typist(srv.port, srv.certs / "ca.pem", tmp_path / "clog")
    try:
        carol.type("carol")
        carol.out.containing("Welcome, carol!")
        alice = srv.player("alice")
        alice.request(protocol.Invite(to="carol"), protocol.InviteUpdate)
        carol.out.containing("alice invites you to tic-tac-toe")
        carol.type("n")
        assert "You declined the invitation to tic-tac-toe" in carol.out.containing("declined")
        update = alice.expect(protocol.InviteUpdate, lambda u: u.outcome == "declined")
        assert update.message == "carol declined the invitation to tic-tac-toe"
    finally:
        assert "Traceback" not in carol.close()


def test_the_admin_reads_listings_in_80_columns_and_whole_game_stats(srv: Running) -> None:
    long = ["Abcdefghijklmnopqrst", "Zyxwvutsrqponmlkjihg"]
    for name in long:
        srv.player(name).request(protocol.Play(mode="multi", room="Qwertyuiopasdfghjklz"),
                                 protocol.RoundStarted)
    result = subprocess.run(
        [PY, str(ROOT / "aclient.py"), *admin_args(srv.admin_port, srv.certs)],
        input="list\nstats\n/q\n", capture_output=True, text=True, timeout=30, cwd=ROOT,
        env={**os.environ, "COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split("player sockets")[1].split("admin>")[0].splitlines()
    assert max(len(line) for line in lines) <= 80, result.stdout
    for name in long:  # whole, never cut: commands take them
        assert any(f"name {name}" in line for line in lines), result.stdout
    assert "where room Qwertyuiopasdfghjklz" in result.stdout
    assert "stats of the whole game (every server process; asked " in result.stdout
    assert f"uptime of {srv.services.settings.instance}" in result.stdout


def test_a_match_end_names_the_game_on_record(srv: Running) -> None:
    host = srv.admin()
    alice = srv.player("alice")
    alice.request(protocol.Play(mode="tictactoe"), protocol.Board)
    game_id = alice.request(protocol.Resign(), protocol.MatchEnded).game_id
    ended = host.expect(protocol.AdminEvent, lambda e: "won by" in e.text)
    assert f"on record as game #{game_id} ('replay {game_id}')" in ended.text


def test_a_long_message_is_refused_in_the_players_words(srv: Running, tmp_path: Path) -> None:
    dan = Typist(srv.port, srv.certs / "ca.pem", tmp_path / "clog")
    try:
        dan.type("dan", "say " + "a" * 3001)
        line = dan.out.containing("Not sent")
        assert "the message is too long (at most 3000 characters)" in line
        assert "field" not in line  # no protocol terms
        dan.type("say " + "\U0001F600" * 1500)  # 1,500 characters, 6,000 bytes
        line = dan.out.containing("Not sent")
        assert "bytes once encoded, and one message carries at most 4096" in line
        dan.type("play " + "x" * 40)
        line = dan.out.containing("Error")
        assert "there is no game called 'xxxxxxxxxxxxxxxx': play 'single', 'multi'" in line
    finally:
        assert "Traceback" not in dan.close()


def test_a_server_that_never_greets_is_called_busy_not_the_wrong_port(certs: Path) -> None:
    """What the clients say when the hello is not answered in time (15 s: not waited here;
    the connection, real but silent, is still open when they ask why)."""
    ours, theirs = socket.socketpair()
    tls = tlsconf.client_context(certs / "ca.pem").wrap_socket(
        ours, server_hostname="127.0.0.1", do_handshake_on_connect=False)
    try:
        net = NetThread(Connection(tls, accepted=wire.SERVER_TO_PLAYER, limits=CLIENT_LIMITS,
                                   peer="127.0.0.1:4000"), lambda msg: None)
        line = not_greeted(net, "player")
        assert line.startswith("the server at 127.0.0.1:4000 did not greet us within 15 s")
        assert "busy" in line and "--port, default 4000" in line
    finally:
        tls.close()
        theirs.close()
