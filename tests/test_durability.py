"""Commit, then announce: nobody hears a round ended before it is recorded.

The store's write lock is held by another connection (as a long backup or a stuck writer
would), then released, or the server is killed meanwhile.
"""

from __future__ import annotations

import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import protocol
from guessnet.storage.sqlite import SQLiteStore
from tests.conftest import Peer, Running, scaled_backends
from tests.procs import ServerProcess


@contextmanager
def write_lock_held(database: Path) -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(database, timeout=5, isolation_level=None)
    db.execute("BEGIN IMMEDIATE")  # every other writer waits
    try:
        yield db
    finally:
        db.execute("ROLLBACK")
        db.close()


def nothing_of(peer: Peer, kind: type[protocol.Message], seconds: float) -> bool:
    """True if no ``kind`` arrives within ``seconds`` (what did arrive is kept)."""
    try:
        peer.expect(kind, timeout=seconds)
    except AssertionError:
        return True
    return False


def join_room(srv_port_peer: list[Peer]) -> None:
    for peer in srv_port_peer:
        peer.request(protocol.Play(mode="multi", room="vault"), protocol.RoundStarted)


def test_a_round_end_is_announced_only_once_stored(srv: Running) -> None:
    ann, bob = srv.player("ann"), srv.player("bob")
    join_room([ann, bob])
    with write_lock_held(srv.data_dir / "guessnet.sqlite3"):
        ann.send(protocol.Guess(value=srv.room_secret("vault")))
        for peer in (ann, bob):
            assert nothing_of(peer, protocol.RoundEnded, 1.0)
        assert nothing_of(ann, protocol.Hint, 0.1)  # not even the winner's "correct"
        error = bob.refused(protocol.Guess(value=1), "rejected")  # no try used
        assert "being recorded" in error.message
    ended = [peer.expect(protocol.RoundEnded, timeout=10) for peer in (ann, bob)]
    assert {e.winner for e in ended} == {"ann"} and ended[0].game_id is not None
    assert ann.expect(protocol.Hint).result == "correct"
    stored = srv.backends.store.get_game(ended[0].game_id)
    assert stored is not None and stored["winner"] == "ann" and stored["room"] == "vault"
    assert bob.expect(protocol.RoundStarted).round == 2
    assert bob.request(protocol.Guess(value=1), protocol.Hint).tries_used == 1


def test_killed_while_storing_loses_nothing_anyone_was_told(tmp_path: Path,
                                                             certs: Path) -> None:
    server = ServerProcess(tmp_path, certs, "--tries", "10").start()
    ann, bob = server.peer("ann"), server.peer("bob")
    try:
        join_room([ann, bob])
        database = tmp_path / "data" / "guessnet.sqlite3"
        with write_lock_held(database):
            for value in range(1, 11):  # one of these wins; its end waits for the lock
                ann.send(protocol.Guess(value=value))
            told = not (nothing_of(ann, protocol.RoundEnded, 1.0) and
                        nothing_of(bob, protocol.RoundEnded, 0.1))
            hints = [m for m in ann.inbox if isinstance(m, protocol.Hint)]
            # the guesses below the secret were answered "low"; the winning one is being
            # stored (ann's next guesses wait for it), so it is not answered yet
            assert len(hints) < 10 and all(h.result == "low" for h in hints), hints
            server.stop(signal.SIGKILL)
        assert not told  # nobody heard of an end that was not stored...
        store = SQLiteStore(database)
        try:
            assert store.count_games() == 0  # ...and none was stored: nothing lost
        finally:
            store.close()
    finally:
        server.stop(signal.SIGKILL)
        for peer in (ann, bob):
            peer.close()


def test_a_reconnected_process_resends_an_end_its_members_may_have_missed(
        make_server: Callable[..., Running], redis_url: str) -> None:
    srv = make_server(backends=scaled_backends(redis_url, None))
    ann, bob = srv.player("ann"), srv.player("bob")
    join_room([ann, bob])
    ann.request(protocol.Guess(value=srv.room_secret("vault")), protocol.Hint)
    for peer in (ann, bob):
        assert peer.expect(protocol.RoundEnded).winner == "ann"
        assert peer.expect(protocol.RoundStarted).round == 2
    bob.request(protocol.Guess(value=1 if srv.room_secret("vault") != 1 else 2), protocol.Hint)
    # the bus was lost before the end was announced: it may not have been delivered
    srv.services.rooms.resync(lost_at=time.time() - 5)
    for peer, used in ((ann, 0), (bob, 1)):
        again = peer.expect(protocol.RoundEnded)
        assert (again.round, again.winner, again.game_id is not None) == (1, "ann", True)
        now = peer.expect(protocol.RoundStarted)
        assert (now.round, now.tries_used) == (2, used)
    # lost after it was announced: only the round that is on
    srv.services.rooms.resync(lost_at=time.time() + 10)
    assert bob.expect(protocol.RoundStarted).round == 2
    assert nothing_of(bob, protocol.RoundEnded, 0.3)


def test_a_single_players_win_is_told_only_once_stored(srv: Running) -> None:
    ann = srv.player("ann")
    ann.request(protocol.Play(mode="single"), protocol.RoundStarted)
    with write_lock_held(srv.data_dir / "guessnet.sqlite3"):
        ann.send(protocol.Guess(value=srv.single_secret("ann")))
        assert nothing_of(ann, protocol.Hint, 1.0)  # not even "correct"
    assert ann.expect(protocol.Hint, timeout=10).result == "correct"
    assert ann.expect(protocol.RoundEnded).game_id is not None
