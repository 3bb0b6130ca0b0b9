"""The programs as users run them: server.py, pclient.py and aclient.py as subprocesses."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import sqlite3
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

import protocol
from guessnet.client.connection import ClientLog
from tests.conftest import ROOT, Peer
from tests.procs import PY, ServerProcess


@pytest.fixture
def server_proc(tmp_path: Path, certs: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path, certs).start()
    yield proc
    proc.stop(signal.SIGKILL)


def run_client(script: str, args: list[str], stdin: str, timeout: float = 30
               ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, str(ROOT / script), *args], input=stdin, capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


def test_pclient_piped_single_round(server_proc: ServerProcess, tmp_path: Path) -> None:
    args = ["--port", str(server_proc.port), "--cafile", str(server_proc.certs / "ca.pem"),
            "--log-dir", str(tmp_path / "clog")]
    guesses = "\n".join(str(v) for v in range(1, 11))
    result = run_client("pclient.py", args, f"alice\n1\nabc\n{guesses}\nexit\n/q\n")
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert "Select game mode (1: single, 2: multi) :" in out
    assert "Rule Information:" in out and "1. Number range: 1 ~ 10" in out
    assert "2. Maximum try per player: 5" in out
    assert "Input a number (1 ~ 10):" in out
    assert "Please type a whole number" in out  # 'abc' used no try
    assert "Correct!" in out or "Sorry, you've used all your attempts!" in out
    for end in ("Sorry, you've used", "Congratulations"):  # the whole answer, then the prompt
        if end in out:
            after = out[out.index(end):]
            assert after.index(": guess 1 ~ 10, 5 tries.") < after.index("Input a number")
    assert "You left the game." in out
    log = (tmp_path / "clog" / "client.log").read_text()
    assert "[SEND]" in log and "[RCVD]" in log
    assert all("] [pclient " in line for line in log.splitlines())  # which client said it
    assert '"resume_token":"***"' in log  # the token itself is never written
    assert stat.S_IMODE((tmp_path / "clog").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "clog" / "client.log").stat().st_mode) == 0o600


def test_client_log_names_the_client_and_leaves_heartbeats_out(tmp_path: Path) -> None:
    wire = ClientLog(tmp_path / "client.log", "pclient")
    wire.next_connection()
    wire("SEND", protocol.payload_of(protocol.Ping(nonce=1)))
    wire("RECV", protocol.payload_of(protocol.Pong(nonce=1)))
    wire("SEND", protocol.payload_of(protocol.Who()))
    wire.next_connection()
    wire("RECV", protocol.payload_of(protocol.Ok(message="x")))
    wire.close()
    lines = (tmp_path / "client.log").read_text().splitlines()
    assert len(lines) == 2 and f"[pclient {os.getpid()}.1] [SEND]" in lines[0]
    assert f"[pclient {os.getpid()}.2] [RCVD]" in lines[1]


def test_pclient_asks_passwords_twice_and_the_old_one_first(server_proc: ServerProcess,
                                                            tmp_path: Path) -> None:
    args = ["--port", str(server_proc.port), "--cafile", str(server_proc.certs / "ca.pem"),
            "--log-dir", str(tmp_path / "clog")]
    script = ["register bob", "first-secret", "second-secret",  # typo: nothing sent
              "register bob", "first-secret", "first-secret",
              "passwd", "not-the-old-one",                      # refused before a new one
              "passwd", "first-secret", "new-secret", "new-secret",
              "help", "/q"]
    result = run_client("pclient.py", args, "\n".join(script) + "\n")
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert "The two passwords differ: nothing was sent" in out
    assert "Welcome, bob!" in out and "Repeat it:" in out
    wrong = out.index("the old password is wrong")
    assert "New password:" not in out[out.index("Old password:"):wrong]
    assert "password changed" in out
    for secret in ("first-secret", "new-secret", "second-secret"):
        assert secret not in out  # typed without echo (stars in a pipe)
    assert "NAME PASSWORD" not in out  # help never puts a password on the command line
    peer = server_proc.peer()
    peer.hello()
    assert peer.request(protocol.Login(name="bob", password="new-secret"),
                        protocol.Identified).account
    peer.close()


def test_pclient_says_a_reserved_word_is_no_name(server_proc: ServerProcess,
                                                 tmp_path: Path) -> None:
    args = ["--port", str(server_proc.port), "--cafile", str(server_proc.certs / "ca.pem"),
            "--log-dir", str(tmp_path / "clog")]
    result = run_client("pclient.py", args, "server\nWho\nlogout\ncarol\n/q\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "'server' is reserved, not a name" in out
    assert "0 players online" in out  # 'who' works before a name
    assert "'logout' is a command word, not a name" in out
    assert "Traceback" not in out + result.stderr
    assert run_client("pclient.py", args, "exit\n").returncode == 0  # exit quits here


HOSTILE = ["x" * 10_000, "9" * 5_000, "say " + "é" * 2_500, "msg", "msg alice", "say",
           "replay", "replay " + "9" * 5_000, "history " + "9" * 5_000, "leaders " + "x" * 10_000,
           "kick", "kick " + "x" * 10_000, "invite", "invite " + "y" * 10_000, "play",
           "\u0661\u0662\u0663"]  # Arabic-Indic digits: not a number here


def test_pclient_survives_any_line(server_proc: ServerProcess, tmp_path: Path) -> None:
    args = ["--port", str(server_proc.port), "--cafile", str(server_proc.certs / "ca.pem"),
            "--log-dir", str(tmp_path / "clog")]
    lines = ["x" * 10_000, "ann", *HOSTILE, "1", "9" * 5_000, "\u0661", "-0", *HOSTILE, "exit",
             "who", "/q"]
    result = run_client("pclient.py", args, "\n".join(lines) + "\n", timeout=60)
    out = result.stdout
    assert result.returncode == 0 and "Traceback" not in out + result.stderr, result.stderr
    assert "Not sent:" in out and "Usage: msg NAME TEXT" in out and "Usage: say TEXT" in out
    assert "outside the range" in out
    assert "1 player online" in out  # alive at the end


def test_aclient_survives_any_line(server_proc: ServerProcess) -> None:
    certs = server_proc.certs
    args = ["--port", str(server_proc.admin_port), "--cert", str(certs / "admin.pem"),
            "--key", str(certs / "admin.key"), "--cafile", str(certs / "ca.pem")]
    result = run_client("aclient.py", args, "\n".join([*HOSTILE, "list", "quit"]) + "\n",
                        timeout=60)
    out = result.stdout
    assert result.returncode == 0 and "Traceback" not in out + result.stderr, result.stderr
    assert "Not sent:" in out and "Usage: kick ID|NAME [REASON]" in out
    assert "0 player sockets" in out  # alive at the end


def test_pclient_sees_other_players_win_as_it_happens(server_proc: ServerProcess,
                                                      tmp_path: Path) -> None:
    bob = server_proc.peer("bob")
    bob.request(protocol.Play(mode="multi"), protocol.RoundStarted)
    args = ["--port", str(server_proc.port), "--cafile", str(server_proc.certs / "ca.pem"),
            "--log-dir", str(tmp_path / "clog")]
    proc = subprocess.Popen([PY, str(ROOT / "pclient.py"), *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("alice\n2\n")
    proc.stdin.flush()
    bob.expect(protocol.RoomUpdate, lambda m: m.name == "alice")
    win_by_bisection(bob)
    ended = bob.expect(protocol.RoundEnded)
    # alice's client prints the round end with no input from her
    lines = []
    while True:
        line = proc.stdout.readline()
        lines.append(line)
        if "starting a new round" in line.lower():
            break
        assert line, "".join(lines)
    assert str(ended.secret) in line
    proc.stdin.write("/q\n")
    proc.stdin.close()
    assert proc.wait(timeout=10) == 0
    proc.stdout.close()
    assert proc.stderr is not None
    proc.stderr.close()
    bob.close()


def test_pclient_server_not_running(tmp_path: Path, certs: Path) -> None:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run_client("pclient.py", ["--port", str(port), "--cafile", str(certs / "ca.pem"),
                                       "--log-dir", str(tmp_path)], "")
    assert result.returncode == 1
    assert f"cannot connect to 127.0.0.1:{port} (connection refused) - is server.py running?" \
        in result.stderr
    assert "Traceback" not in result.stderr


def test_pclient_wrong_ca_is_refused(server_proc: ServerProcess, tmp_path: Path) -> None:
    from guessnet.launch import certificates
    certificates.ensure_certs(tmp_path / "other", ["127.0.0.1"])
    result = run_client("pclient.py", ["--port", str(server_proc.port), "--cafile",
                                       str(tmp_path / "other" / "ca.pem"),
                                       "--log-dir", str(tmp_path)], "alice\n")
    assert result.returncode == 1
    assert "does not verify" in result.stderr and "Traceback" not in result.stderr


def test_name_missing_from_the_certificate_says_how_to_add_it(tmp_path: Path,
                                                              certs: Path) -> None:
    own = tmp_path / "certs"
    shutil.copytree(certs, own)
    first = ServerProcess(tmp_path / "a", own, "--host", "0.0.0.0").start()
    try:
        args = ["--host", "127.0.0.2", "--port", str(first.port), "--cafile",
                str(own / "ca.pem"), "--log-dir", str(tmp_path)]
        refused = run_client("pclient.py", args, "/q\n")
        assert refused.returncode == 1 and "Traceback" not in refused.stderr
        assert "does not name '127.0.0.2'" in refused.stderr
        assert "server.py --cert-name 127.0.0.2" in refused.stderr
    finally:
        first.stop()
    second = ServerProcess(tmp_path / "a", own, "--host", "0.0.0.0",
                           "--cert-name", "127.0.0.2").start()
    try:  # the certificate was reissued by the same CA: the same ca.pem verifies it
        args[3] = str(second.port)
        joined = run_client("pclient.py", args, "carol\n/q\n")
        assert joined.returncode == 0 and "Welcome, carol!" in joined.stdout, joined.stderr
        assert second.proc is not None and second.proc.stdout is not None
        assert "127.0.0.2" in second.proc.stdout.readline()  # the names players may use
    finally:
        second.stop()


def test_aclient_piped(server_proc: ServerProcess, tmp_path: Path) -> None:
    ann = server_proc.peer("ann")
    certs = server_proc.certs
    args = ["--port", str(server_proc.admin_port), "--cert", str(certs / "admin.pem"),
            "--key", str(certs / "admin.key"), "--cafile", str(certs / "ca.pem")]
    result = run_client("aclient.py", args, "list\nrooms\nstats\nsay hello all\nkick ann bye\n/q\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "1 player socket\n" in out and ann.address in out and "ann" in out
    row = next(line for line in out.splitlines() if ann.address in line)
    assert len(row) <= 80, row  # fits a standard terminal
    assert "players online" in out and "uptime" in out
    assert "kicked ann" in out
    assert ann.expect(protocol.Notice).text == "hello all"
    assert ann.expect(protocol.Bye).reason == "kicked"
    ann.close()


def test_aclient_watch_prints_events(server_proc: ServerProcess) -> None:
    certs = server_proc.certs
    proc = subprocess.Popen(
        [PY, str(ROOT / "aclient.py"), "--watch", "--port", str(server_proc.admin_port),
         "--cert", str(certs / "admin.pem"), "--key", str(certs / "admin.key"),
         "--cafile", str(certs / "ca.pem")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None and proc.stderr is not None
    assert "Connected to the admin port" in proc.stderr.readline()  # stdout is events only
    ann = server_proc.peer()
    line = proc.stdout.readline()
    assert "connected:" in line and ann.address in line
    ann.join_as("ann")
    assert "ann" in proc.stdout.readline()
    proc.terminate()
    proc.wait(timeout=10)
    proc.stdout.close()
    proc.stderr.close()
    ann.close()


def test_aclient_missing_certificate(tmp_path: Path) -> None:
    result = run_client("aclient.py", ["--cert", str(tmp_path / "none.pem")], "")
    assert result.returncode == 1 and "no admin certificate" in result.stderr


def test_port_in_use_is_one_clear_line(server_proc: ServerProcess, tmp_path: Path,
                                       certs: Path) -> None:
    result = subprocess.run(
        [PY, str(ROOT / "server.py"), "--port", str(server_proc.port), "--admin-port", "0",
         "--certs", str(certs), "--data-dir", str(tmp_path / "d2"),
         "--log-dir", str(tmp_path / "l2")],
        capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert result.returncode == 1
    assert result.stderr.strip() == (f"cannot listen on 127.0.0.1:{server_proc.port}: port "
                                     "already in use (is another server.py running?)")


def test_sigterm_tells_clients_and_exits_zero(tmp_path: Path, certs: Path) -> None:
    proc = ServerProcess(tmp_path, certs).start()
    ann = proc.peer("ann")
    assert proc.stop(signal.SIGTERM) == 0
    assert ann.expect(protocol.Bye).message == "server shutting down"
    ann.close()


def win_by_bisection(peer: Peer, low: int = 1, high: int = 10) -> None:
    """Guess by halving the range: 1..10 takes at most 4 of the 5 tries."""
    while True:
        middle = (low + high) // 2
        hint = peer.request(protocol.Guess(value=middle), protocol.Hint)
        if hint.result == "correct":
            return
        low, high = (low, middle - 1) if hint.result == "high" else (middle + 1, high)


def finish_rounds(proc: ServerProcess, peer: Peer, count: int) -> list[int]:
    """Win ``count`` single rounds; return their game ids."""
    ids = []
    peer.request(protocol.Play(mode="single"), protocol.RoundStarted)
    for _ in range(count):
        win_by_bisection(peer)
        ended = peer.expect(protocol.RoundEnded)
        assert ended.game_id is not None
        ids.append(ended.game_id)
        peer.expect(protocol.RoundStarted)
    return ids


def test_durability_across_kill_9(tmp_path: Path, certs: Path) -> None:
    first = ServerProcess(tmp_path, certs).start()
    ann = first.peer()
    ann.hello()
    ann.request(protocol.Register(name="ann", password="durable-pass"), protocol.Identified)
    ids = finish_rounds(first, ann, 3)
    while ann.request(protocol.Guess(value=1), protocol.Hint).result == "correct":
        ended = ann.expect(protocol.RoundEnded).game_id
        assert ended is not None
        ids.append(ended)
        ann.expect(protocol.RoundStarted)
    # now a round is in progress...
    first.proc.kill()  # type: ignore[union-attr]  # ...when the server dies
    first.stop(signal.SIGKILL)
    ann.close()

    db = sqlite3.connect(tmp_path / "data" / "guessnet.sqlite3")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert [r[0] for r in db.execute("SELECT id FROM games ORDER BY id")] == ids
    db.close()

    second = ServerProcess(tmp_path, certs).start()
    assert f"{len(ids)} games on record" in second.more
    again = second.peer()
    again.hello()
    again.request(protocol.Login(name="ann", password="durable-pass"), protocol.Identified)
    _, history = again.table(protocol.History(limit=10))
    assert sorted(r[0] for r in history) == ids
    _, leaders = again.table(protocol.Leaders(game="single"))
    assert leaders[0][2] == "ann" and leaders[0][4] == len(ids)
    title, moves = again.table(protocol.Replay(game_id=ids[0]))
    assert moves and f"game #{ids[0]}" in title
    again.close()
    second.stop()

    replay = subprocess.run([PY, str(ROOT / "server.py"), "--data-dir", str(tmp_path / "data"),
                             "--replay", str(ids[0])], capture_output=True, text=True,
                            timeout=30, cwd=ROOT)
    assert replay.returncode == 0 and f"game #{ids[0]}" in replay.stdout
    assert "player" in replay.stdout and "result" in replay.stdout
    listing = subprocess.run([PY, str(ROOT / "server.py"), "--data-dir", str(tmp_path / "data"),
                              "--replay"], capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert listing.returncode == 0 and f"last {len(ids)} games" in listing.stdout
    missing = subprocess.run([PY, str(ROOT / "server.py"), "--data-dir", str(tmp_path / "data"),
                              "--replay", "999999"], capture_output=True, text=True, timeout=30,
                             cwd=ROOT)
    assert missing.returncode == 1 and "no game #999999" in missing.stderr


def test_certificates_created_owner_only(tmp_path: Path) -> None:
    certs = tmp_path / "fresh-certs"
    proc = ServerProcess(tmp_path, certs).start()
    try:
        for key in ("ca.key", "server.key", "admin.key"):
            assert oct((certs / key).stat().st_mode & 0o777) == "0o600", key
        assert (certs / "ca.pem").exists() and (certs / "admin.pem").exists()
    finally:
        proc.stop()


def test_old_database_is_migrated(tmp_path: Path) -> None:
    from guessnet.storage.sqlite import SQLiteStore
    from guessnet.storage.sqlite_schema import MIGRATIONS
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0])
    record = ('{"id":1,"game":"guess","mode":"single","room":null,"started":1,"ended":2,'
              '"players":["ann"],"secret":3,"moves":[],"outcome":"won","winner":"ann",'
              '"results":[{"player":"ann","board":"single","won":true,"tries":1}]}')
    db.execute("INSERT INTO games(game, mode, room, ended, record) VALUES "
               "('guess','single',NULL,2,?)", (record,))
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    store = SQLiteStore(path)
    assert store.get_game(1) is not None
    assert [r.player for r in store.leaders("single")] == ["ann"]
    store.close()


if os.name != "posix":  # pragma: no cover
    pytest.skip("POSIX signals needed", allow_module_level=True)


class Output:
    """A subprocess's stdout, read by a thread; ``wait_for`` has a deadline."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {text!r} within {timeout} s: {self.seen}") from None
            self.seen.append(line)
            if text in line:
                return line


def test_an_invitation_never_takes_what_the_player_types(server_proc: ServerProcess,
                                                        tmp_path: Path) -> None:
    bob = server_proc.peer("bob")
    args = ["--port", str(server_proc.port), "--cafile", str(server_proc.certs / "ca.pem"),
            "--log-dir", str(tmp_path / "clog")]
    proc = subprocess.Popen([PY, str(ROOT / "pclient.py"), *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    out = Output(proc.stdout)
    try:
        proc.stdin.write("alice\n1\n")
        proc.stdin.flush()
        out.wait_for("Maximum try per player")
        bob.request(protocol.Invite(to="alice"), protocol.InviteUpdate)
        out.wait_for("bob invites you to tic-tac-toe: type 'accept'")
        proc.stdin.write("\n7\n")  # an empty line and a guess: neither answers
        proc.stdin.flush()
        out.wait_for("ou guessed")  # the guess went to her round ("You guessed too ...")
        with pytest.raises(AssertionError):
            bob.expect(protocol.InviteUpdate, timeout=0.5)
        proc.stdin.write("y\n")
        proc.stdin.flush()
        assert bob.expect(protocol.InviteUpdate).outcome == "accepted"
        assert bob.expect(protocol.Board).x == "bob"
        proc.stdin.write("/q\n")
        proc.stdin.close()
        assert proc.wait(timeout=10) == 0
        out.wait_for("goodbye")  # everything it printed is read by now
        assert "Traceback" not in "".join(out.seen)
        assert sum("invites you" in line for line in out.seen) == 1  # shown once
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()
        bob.close()


def test_aclient_recognises_the_player_port(server_proc: ServerProcess) -> None:
    certs = server_proc.certs
    args = ["--port", str(server_proc.port), "--cert", str(certs / "admin.pem"),
            "--key", str(certs / "admin.key"), "--cafile", str(certs / "ca.pem")]
    result = run_client("aclient.py", args, "list\n/q\n")
    assert result.returncode == 1
    assert "answered as a player port, not the admin port" in result.stderr
    assert "Connected to the admin port" not in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("option", ["--data-dir", "--log-dir", "--certs"])
@pytest.mark.parametrize("problem", ["a file", "not permitted"])
def test_a_folder_the_server_cannot_use_is_one_clear_line(tmp_path: Path, option: str,
                                                          problem: str) -> None:
    folder = tmp_path / "taken"
    if problem == "a file":
        folder.write_text("not a folder\n")
    else:
        folder = Path("/sys/guessnet-test")  # sysfs: no one may make a folder there
    folders = {"--data-dir": tmp_path / "data", "--log-dir": tmp_path / "logs",
               "--certs": tmp_path / "certs", option: folder}
    result = subprocess.run(
        [PY, str(ROOT / "server.py"), "--port", "0", "--admin-port", "0", "--web-port", "0",
         *[str(part) for pair in folders.items() for part in pair]],
        capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert result.returncode == 1, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(folder) in lines[0] and option in lines[0], result.stderr
    assert "Traceback" not in result.stderr
