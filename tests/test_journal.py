"""Storage down is not data lost: the journal keeps finished rounds until the store is back.

The journal alone, then a real server whose SQLite store is locked, then one whose disk fills.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

import protocol
from guessnet.games.guess import GuessRoom
from guessnet.net import wakeup
from guessnet.services.composition import Backends, Settings, build
from guessnet.services.journal import Journal, JournalError
from guessnet.services.records import Recorded
from guessnet.storage.base import BackendError, JSONDict
from guessnet.storage.memory import MemoryBus, MemoryCounters, MemoryPresence, MemoryRoomStore
from guessnet.storage.sqlite import SQLiteStore
from tests.conftest import LogWatch, Peer, Running, scaled_backends
from tests.procs import ServerProcess
from tests.services import redis_service
from tests.test_durability import write_lock_held


def entry(n: int) -> JSONDict:
    return {"game": "guess", "mode": "single", "room": None, "key": f"single-1/{n}/1.5",
            "round": n, "started": 1.5, "ended": 2.5, "players": ["ann"], "secret": 3,
            "moves": [{"at": 2.5, "player": "ann", "move": 3, "result": "correct"}],
            "outcome": "won", "winner": "ann", "results": []}


def test_the_journal_replays_in_order_once(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "data")
    for n in range(1, 5):
        journal.append(entry(n))
    assert journal.pending() == 4
    store = SQLiteStore(tmp_path / "db.sqlite3")
    try:
        calls: list[int] = []

        def flaky(record: JSONDict) -> int:
            calls.append(record["round"])
            if record["round"] == 3 and calls.count(3) == 1:
                raise BackendError("store down again")
            return store.save_game(record)

        with pytest.raises(BackendError):
            journal.replay(flaky)
        assert journal.pending() == 2  # 1 and 2 written, 3 and 4 kept in order
        assert journal.replay(flaky) == 2 and journal.pending() == 0
        assert calls == [1, 2, 3, 3, 4]
        journal.append(entry(2))  # written twice (a crash before the journal was emptied)
        journal.replay(store.save_game)
        assert [g.game_id for g in store.recent_games(10)] == [4, 3, 2, 1]
        assert [store.get_game(i)["round"] for i in (1, 2, 3, 4)] == [1, 2, 3, 4]  # type: ignore[index]
    finally:
        store.close()


def test_an_unwritable_journal_says_why(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("a file where the folder should be")
    with pytest.raises(JournalError, match="journal"):
        Journal(tmp_path / "data").append(entry(1))


class GatedStore(SQLiteStore):
    """The real SQLite store, whose first write waits for ``gate``; ``batches`` keeps how
    many games each write took, and ``fail`` makes the writes after the first fail."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.gate, self.writing = threading.Event(), threading.Event()
        self.batches: list[int] = []
        self.fail = False

    def save_games(self, records: Sequence[JSONDict]) -> list[int]:
        first = not self.batches
        self.batches.append(len(records))
        self.writing.set()
        if first:
            self.gate.wait(timeout=10)
        elif self.fail:
            raise BackendError("disk gone")
        return super().save_games(records)


@pytest.mark.parametrize("fail", [False, True])
def test_games_that_wait_for_a_write_are_written_together(tmp_path: Path, fail: bool) -> None:
    """A group commit: the five games that end while another is being written are written
    in one transaction by one of their threads, each told its own id; or, when that write
    fails, each is journaled, in order."""
    bus = MemoryBus()
    store = GatedStore(tmp_path / "db.sqlite3")
    store.fail = fail
    services = build(Settings(data_dir=tmp_path / "data"), Backends(
        store=store, rooms=MemoryRoomStore(bus, GuessRoom.from_dict), bus=bus,
        counters=MemoryCounters(), presence=MemoryPresence()), wakeup.PortableWakeup())
    told: dict[int, Recorded] = {}

    def finish(n: int) -> threading.Thread:
        thread = threading.Thread(target=lambda: told.update({n: services.records.match(
            entry(n), f"game {n}")}))
        thread.start()
        return thread
    threads = [finish(1)]
    assert store.writing.wait(timeout=10)
    threads += [finish(n) for n in range(2, 7)]
    deadline = time.monotonic() + 10
    while len(services.records._waiting) < 5 and time.monotonic() < deadline:
        store.gate.wait(0.005)  # (the five queue behind the first write)
    queued = [waiting.record["round"] for waiting in services.records._waiting]
    store.gate.set()
    for thread in threads:
        thread.join(timeout=10)
    assert store.batches == [1, 5] and sorted(queued) == [2, 3, 4, 5, 6]
    try:
        assert told[1].game_id == 1
        if fail:  # journaled in the order they queued
            assert all(told[n].game_id is None and told[n].note for n in queued)
            journaled: list[int] = []
            services.records.journal.replay(lambda record: journaled.append(record["round"]))
            assert journaled == queued
        else:  # stored in that order, each told its own id
            assert [told[n].game_id for n in queued] == [2, 3, 4, 5, 6]
            assert all(store.get_game(n)["round"] == queued[n - 2]  # type: ignore[index]
                       for n in range(2, 7))
    finally:
        store.close()


@pytest.fixture
def short_wait_server(make_server: Callable[..., Running], tmp_path: Path) -> Running:
    """A server whose SQLite store gives up on a held write lock after half a second."""
    bus = MemoryBus()
    store = SQLiteStore(tmp_path / "short" / "guessnet.sqlite3", timeout=0.5)
    return make_server("--data-dir", str(tmp_path / "short"), backends=Backends(
        store=store, rooms=MemoryRoomStore(bus, GuessRoom.from_dict), bus=bus,
        counters=MemoryCounters(), presence=MemoryPresence()))


def test_a_locked_store_journals_and_catches_up(short_wait_server: Running) -> None:
    srv = short_wait_server
    admin = srv.admin()
    ann, bob, cy = srv.player("ann"), srv.player("bob"), srv.player("cy")
    ann.request(protocol.Play(mode="single"), protocol.RoundStarted)
    for peer in (bob, cy):
        peer.request(protocol.Play(mode="multi"), protocol.RoundStarted)
    with write_lock_held(srv.data_dir / "guessnet.sqlite3"):
        ann.request(protocol.Guess(value=srv.single_secret("ann")), protocol.Hint)
        single = ann.expect(protocol.RoundEnded, timeout=5)
        assert single.winner == "ann" and single.game_id is None
        assert "will be recorded as soon as storage is back" in ann.expect(protocol.Notice).text
        bob.send(protocol.Guess(value=srv.room_secret()))
        for peer in (bob, cy):
            assert peer.expect(protocol.RoundEnded, timeout=5).game_id is None
            assert "storage is unavailable" in peer.expect(protocol.Notice).text
        assert admin.expect(protocol.AdminEvent, lambda e: e.kind == "journaled").text
    replayed = admin.expect(protocol.AdminEvent, lambda e: e.kind == "replayed", timeout=15)
    assert "2 journaled games" in replayed.text
    games = srv.backends.store.recent_games(10)
    assert sorted((g.mode, g.winner) for g in games) == [("multi", "bob"), ("single", "ann")]


def test_every_round_behind_a_held_lock_is_journaled_on_time_and_in_order(
        short_wait_server: Running) -> None:
    """The store gives up after 0.5 s here (10 s by default); the lock is held six times
    that. Rounds that end together are each journaled within their own deadline (not one
    deadline per round queued before them), a player's games keep their order, and the
    room hears nothing about a stopped process."""
    srv = short_wait_server
    rooms = [srv.player(f"p{i}") for i in range(4)]
    for i, peer in enumerate(rooms):
        peer.request(protocol.Play(mode="multi", room=f"r{i}"), protocol.RoundStarted)
    ann = srv.player("ann")
    ann.request(protocol.Play(mode="single"), protocol.RoundStarted)
    with write_lock_held(srv.data_dir / "guessnet.sqlite3"):
        started = time.monotonic()
        for peer in rooms:  # four rounds end at once: they queue for the store
            peer.send(protocol.Guess(value=srv.room_secret()))
        for peer in rooms:
            assert peer.expect(protocol.RoundEnded, timeout=5).game_id is None
        waited = time.monotonic() - started
        assert waited < 0.5 + 1.0, waited  # before: 0.5 s more for each round queued
        for _ in range(3):  # one player's games, one after the other, all journaled
            ann.request(protocol.Guess(value=srv.single_secret("ann")), protocol.Hint)
            assert ann.expect(protocol.RoundEnded, timeout=5).game_id is None
        assert time.monotonic() - started < 3.0  # all while the lock is held
        ann.expect(protocol.RoundStarted)
    srv.services.records.replay()  # (the ticker does it within 5 s: not waited for here)
    games = sorted(srv.backends.store.recent_games(20), key=lambda g: g.game_id)
    assert len(games) == 7
    # Stored in the order recorded: a player's games (and a room's rounds) in the order they
    # ended.  (Four rounds of four rooms ending within the same millisecond in four threads
    # have no order to keep: whichever thread records first is stored first.)
    anns = [g.ended for g in games if g.room is None]
    assert len(anns) == 3 and anns == sorted(anns)
    assert sorted(g.room for g in games if g.room is not None) == ["r0", "r1", "r2", "r3"]
    for peer in [*rooms, ann]:
        assert not [m for m in peer.inbox if isinstance(m, protocol.Notice)
                    and "stopped" in m.text]


TMPFS_REASON = "a disk-full test mounts a tmpfs, which needs root"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip(TMPFS_REASON)
    folder = tmp_path / "small-disk"
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder)],
                   check=True, timeout=10)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False, timeout=10)


def fill(folder: Path) -> Path:
    filler = folder / "filler"
    with filler.open("wb") as out:
        while True:
            try:
                out.write(b"\0" * 16384)
                out.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                return filler


def win_single(peer: Peer, secret_range: range) -> protocol.RoundEnded:
    for value in secret_range:
        hint = peer.request(protocol.Guess(value=value), protocol.Hint)
        if hint.result == "correct":
            break
    return peer.expect(protocol.RoundEnded, timeout=15)


def test_a_full_disk_is_said_and_storage_recovers(small_disk: Path, tmp_path: Path,
                                                  certs: Path) -> None:
    server = ServerProcess(tmp_path, certs, "--data-dir", str(small_disk / "data"),
                           "--tries", "10").start()
    ann, admin = server.peer("ann"), server.admin()
    try:
        ann.request(protocol.Play(mode="single"), protocol.RoundStarted)
        first = win_single(ann, range(1, 11))
        assert first.game_id is not None
        ann.expect(protocol.RoundStarted)
        filler = fill(small_disk)
        lost = win_single(ann, range(1, 11))
        assert lost.game_id is None
        note = ann.expect(protocol.Notice).text
        assert "could not be recorded" in note and "No space left on device" in note
        event = admin.expect(protocol.AdminEvent, lambda e: e.kind == "not_recorded")
        assert "No space left on device" in event.text
        ann.expect(protocol.RoundStarted)
        filler.unlink()  # space again: play and storage go on
        again = win_single(ann, range(1, 11))
        assert again.game_id is not None
        ann.request(protocol.Leave(), protocol.LeftGame)
        _, rows = admin.table(protocol.History(limit=10))
        assert {r[0] for r in rows} == {first.game_id, again.game_id}  # nothing lost
    finally:
        server.stop(signal.SIGTERM)
        for peer in (ann, admin):
            peer.close()
    log = (tmp_path / "logs" / "server.log").read_text(encoding="utf-8")
    assert "database or disk is full" in log and "NOT recorded" in log
    assert "cannot rollback" not in log



def test_redis_killed_mid_play_loses_no_game_anyone_was_told_of(
        make_server: Callable[..., Running], tmp_path: Path, server_log: LogWatch) -> None:
    service = redis_service(tmp_path / "redis-data").start()  # AOF: games must survive
    url = f"redis://127.0.0.1:{service.port}/0"
    try:
        srv = make_server("--tries", "10", backends=scaled_backends(url, None))
        ann = srv.player("ann")
        ann.request(protocol.Play(mode="single"), protocol.RoundStarted)
        service.kill()
        told = []
        for _ in range(3):  # three rounds won while Redis is down
            ann.request(protocol.Guess(value=srv.single_secret("ann")), protocol.Hint)
            ended = ann.expect(protocol.RoundEnded)
            assert ended.winner == "ann" and ended.game_id is None
            assert "recorded as soon as storage is back" in ann.expect(protocol.Notice).text
            told.append(ended.round)
            ann.expect(protocol.RoundStarted)
        service.start()
        server_log.wait_for("journal replayed: 3 games", timeout=20)
        games = srv.backends.store.recent_games(10)
        assert sorted(g.game_id for g in games) == [1, 2, 3] and told == [1, 2, 3]
        assert all(g.winner == "ann" and g.mode == "single" for g in games)
    finally:
        service.stop()


def test_a_match_ended_while_the_store_is_locked_is_journaled(
        short_wait_server: Running, server_log: LogWatch) -> None:
    srv = short_wait_server
    ann = srv.player()
    ann.hello()
    ann.request(protocol.Register(name="ann", password="journal-pass"), protocol.Identified)
    ann.request(protocol.Play(mode="tictactoe"), protocol.Board)
    with write_lock_held(srv.data_dir / "guessnet.sqlite3"):
        ended = ann.request(protocol.Resign(), protocol.MatchEnded, timeout=5)
        assert ended.winner == "server" and ended.game_id is None
        assert "recorded as soon as storage is back" in ann.expect(protocol.Notice).text
    server_log.wait_for("journal replayed: 1 games", timeout=15)
    [game] = srv.backends.store.recent_games(5)
    assert (game.game, game.winner) == ("tictactoe", "server")
    [row] = srv.backends.store.leaders("tictactoe")
    assert (row.player, row.wins, row.played) == ("ann", 0, 1)  # the account's result too
