"""Resume anywhere: a seat held by one process is taken over on another (two processes on
one Redis, and ``--workers 2``), with the same name, room, tries and match."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

import protocol
from bench.services import need
from tests.conftest import Peer
from tests.procs import ServerProcess
from tests.services import Service


@pytest.fixture
def two(tmp_path: Path, certs: Path, redis_url: str,
        memcached_server: Service) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    extra = ("--redis", redis_url, "--memcached", f"127.0.0.1:{memcached_server.port}",
             "--tries", "30", "--max", "1000000")
    a = ServerProcess(tmp_path / "a", certs, *extra, "--instance-id", "A").start()
    b = ServerProcess(tmp_path / "b", certs, *extra, "--instance-id", "B").start()
    yield a, b
    for proc in (a, b):
        proc.stop()


def named(proc: ServerProcess, name: str) -> tuple[Peer, str]:
    """A player on ``proc`` called ``name``, and their resume token."""
    peer = proc.peer()
    peer.hello()
    token = peer.request(protocol.SetName(name=name), protocol.Identified).resume_token
    assert token
    return peer, token


def resume(proc: ServerProcess, token: str, name: str) -> tuple[Peer, str]:
    peer = proc.peer()
    peer.hello()
    back = peer.request(protocol.Resume(token=token), protocol.Identified)
    assert back.name == name and back.resume_token and back.resume_token != token
    return peer, back.resume_token


def a_miss(peer: Peer) -> protocol.Hint:
    """One guess in a 1..1000000 round that is all but sure to miss (30 tries)."""
    return peer.request(protocol.Guess(value=random.randint(1, 1_000_000)), protocol.Hint)


def test_a_room_seat_moves_to_the_other_process_and_back(
        two: tuple[ServerProcess, ServerProcess]) -> None:
    a, b = two
    ann, token = named(a, "ann")
    bob, _ = named(b, "bob")
    for peer in (ann, bob):
        peer.request(protocol.Play(mode="multi", room="main"), protocol.RoundStarted)
    assert a_miss(ann).tries_used == 1
    ann.close()  # Wi-Fi blinks: ann's seat is held on A
    assert bob.expect(protocol.RoomUpdate, lambda u: u.event == "away").name == "ann"
    ann, token = resume(b, token, "ann")  # ... and she lands on B
    started = ann.expect(protocol.RoundStarted)
    assert (started.room, started.tries_used) == ("main", 1)
    assert bob.expect(protocol.RoomUpdate, lambda u: u.event == "back").name == "ann"
    assert a_miss(ann).tries_used == 2  # her tries, in the same round, now on B
    ann.close()
    ann, _ = resume(a, token, "ann")  # the token B issued resumes on A again
    assert ann.expect(protocol.RoundStarted).tries_used == 2
    admin = a.admin()
    rows = admin.table(protocol.ListPlayers())[1]
    assert sorted(row[2] for row in rows) == ["ann", "bob"]  # one ann, no ghost
    assert not [m for m in bob.inbox if isinstance(m, protocol.RoomUpdate)
                and m.event in ("left", "lost")]
    for peer in (ann, bob, admin):
        peer.close()


def test_a_single_game_and_a_match_move_with_their_player(
        two: tuple[ServerProcess, ServerProcess]) -> None:
    a, b = two
    cat, token = named(a, "cat")
    cat.request(protocol.Play(mode="single"), protocol.RoundStarted)
    assert a_miss(cat).tries_used == 1
    cat.close()
    cat, token = resume(b, token, "cat")
    assert cat.expect(protocol.RoundStarted).tries_used == 1
    cat.request(protocol.Leave(), protocol.LeftGame)
    cat.request(protocol.Play(mode="tictactoe"), protocol.Board)  # hosted on B
    board = cat.request(protocol.Move(cell="5"), protocol.Board,
                        )  # the server answers at once: a board with two marks
    cat.close()
    cat, _ = resume(a, token, "cat")  # now on A; the match stays hosted on B
    again = cat.expect(protocol.Board)
    assert again.board == board.board and again.turn == "cat"
    free = next(str(i + 1) for i, mark in enumerate(again.board) if mark == " ")
    moved = cat.request(protocol.Move(cell=free), protocol.Board)  # forwarded to B
    assert moved.board.count("X") == 2
    cat.close()


def test_an_unknown_token_is_refused_on_every_process(
        two: tuple[ServerProcess, ServerProcess]) -> None:
    a, b = two
    dan, token = named(a, "dan")
    dan.request(protocol.Quit(), protocol.Bye)  # quit: the seat is not held
    for proc in (a, b):
        peer = proc.peer()
        peer.hello()
        assert peer.refused(protocol.Resume(token=token), "bad_token")
        peer.close()
    dan.close()


@pytest.mark.timeout(180)
def test_with_two_workers_every_cut_player_resumes_with_their_seat(tmp_path: Path,
                                                                  certs: Path) -> None:
    try:
        need("redis-server")
    except Exception as exc:  # MissingService: ./test.sh installs it; never a silent skip
        pytest.fail(str(exc))
    server = ServerProcess(tmp_path / "w", certs, "--workers", "2", "--tries", "30",
                           "--max", "1000000", "--max-per-peer", "1000").start()
    players = int(os.environ.get("GUESSNET_RESUME_PLAYERS", "40"))  # 200 for the note
    try:
        seats = []
        for i in range(players):
            peer, token = named(server, f"p{i:03d}")
            peer.request(protocol.Play(mode="multi", room=f"r{i % 4}"), protocol.RoundStarted)
            seats.append((peer, token, a_miss(peer).tries_used))
        back = 0
        for i, (peer, token, used) in enumerate(seats):
            peer.close()  # each cut once; the kernel picks the worker that gets them back
            peer, _ = resume(server, token, f"p{i:03d}")
            started = peer.expect(protocol.RoundStarted)
            back += (started.room, started.tries_used) == (f"r{i % 4}", used)
            seats[i] = (peer, token, used)
        assert back == players
        log = "".join(path.read_text() for path in (tmp_path / "w").rglob("server*.log"))
        crossed = log.count("seat held by")
        print(f"{back}/{players} resumed with their seat, {crossed} on the other worker")
        assert crossed > 0  # the kernel sent some to the worker that did not hold the seat
    finally:
        for peer, _, _ in seats:
            peer.close()
        server.stop()
