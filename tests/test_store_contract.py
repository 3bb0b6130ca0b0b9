"""One contract for every Store backend (SQLite and Redis), and every Counters backend."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from guessnet.storage.base import BackendError, Counters, NameTaken, Sanction, Store
from guessnet.storage.memory import MemoryCounters
from tests.services import Service


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        from guessnet.storage.sqlite import SQLiteStore
        made: Store = SQLiteStore(tmp_path / "contract.sqlite3")
    else:
        from guessnet.storage import redis_backend, redis_store
        made = redis_store.RedisStore(redis_backend.connect(
            request.getfixturevalue("redis_url")))
    yield made
    made.close()


def game(winner: str | None, players: list[str], board: str = "single",
         tries: dict[str, int] | None = None, ended: float = 100.0) -> dict[str, object]:
    tries = tries or {p: 1 for p in players}
    return {
        "game": "guess", "mode": board, "room": None, "started": ended - 5, "ended": ended,
        "players": players, "secret": 4,
        "moves": [{"at": ended, "player": p, "move": 4, "result": "correct"} for p in players],
        "outcome": "won" if winner else "failed", "winner": winner,
        "results": [{"player": p, "board": board, "won": p == winner, "tries": tries[p]}
                    for p in players],
    }


def test_accounts(store: Store) -> None:
    assert store.get_user("ann") is None
    store.create_user("Ann", "hash1", 1.0)
    user = store.get_user("ANN")
    assert user is not None and (user.name, user.password_hash) == ("Ann", "hash1")
    with pytest.raises(NameTaken):
        store.create_user("aNN", "hash2", 2.0)
    store.set_password("ann", "hash3")
    assert store.get_user("ann").password_hash == "hash3"  # type: ignore[union-attr]
    store.set_password("nobody", "x")
    assert store.get_user("nobody") is None


def test_accounts_among(store: Store) -> None:
    assert store.accounts_among([]) == set()
    assert store.accounts_among(["ann"]) == set()
    for name in ("Ann", "bob"):
        store.create_user(name, "hash", 1.0)
    # answered as asked, whatever the letter case of the account
    assert store.accounts_among(["ANN", "bob", "cy", "Bob"]) == {"ANN", "bob", "Bob"}
    many = [f"guest{i}" for i in range(1200)] + ["ann"]  # a whole room and more
    assert store.accounts_among(many) == {"ann"}


def test_games_and_history(store: Store) -> None:
    assert store.count_games() == 0
    first = store.save_game(game("ann", ["ann", "bob"], ended=10))
    second = store.save_game(game(None, ["bob"], ended=20))
    assert second > first >= 1
    assert store.count_games() == 2
    record = store.get_game(first)
    assert record is not None and record["id"] == first and record["winner"] == "ann"
    assert record["moves"][0]["player"] == "ann"
    assert store.get_game(9999) is None
    assert [g.game_id for g in store.recent_games(10)] == [second, first]
    assert [g.game_id for g in store.recent_games(1)] == [second]
    assert [g.game_id for g in store.recent_games(10, "ANN")] == [first]
    assert [g.game_id for g in store.recent_games(10, "bob")] == [second, first]
    assert store.recent_games(10, "zed") == []


def test_leaderboard_order_and_boards(store: Store) -> None:
    store.save_game(game("ann", ["ann", "bob"], tries={"ann": 3, "bob": 2}))
    store.save_game(game("ann", ["ann"], tries={"ann": 2}))
    store.save_game(game("bob", ["bob"], tries={"bob": 1}))
    store.save_game(game("cy", ["cy"], tries={"cy": 4}))
    store.save_game(game("dee", ["dee"], board="multi"))
    rows = store.leaders("single")
    assert [(r.player, r.wins, r.played, r.best) for r in rows] == [
        ("ann", 2, 2, 2), ("cy", 1, 1, 4), ("bob", 1, 2, 1)]
    assert rows[2].win_rate == 0.5
    assert [r.player for r in store.leaders("multi")] == ["dee"]
    assert store.leaders("tictactoe") == []
    assert len(store.leaders("single", limit=1)) == 1


@pytest.fixture(params=["memory", "memcached", "redis"])
def counters(request: pytest.FixtureRequest) -> Iterator[Counters]:
    if request.param == "memory":
        yield MemoryCounters()
        return
    if request.param == "redis":
        from guessnet.storage import redis_backend
        from guessnet.storage.redis_counters import RedisCounters
        client = redis_backend.connect(request.getfixturevalue("redis_url"))
        yield RedisCounters(client)
        client.close()
        return
    from guessnet.storage.memcached_backend import MemcachedCounters
    service: Service = request.getfixturevalue("memcached_server")
    made = MemcachedCounters(f"127.0.0.1:{service.port}")
    made._run(lambda client: client.flush_all())
    yield made
    made.close()


def test_counters(counters: Counters) -> None:
    assert counters.get("correct:user:ann") == 0
    counters.incr("correct:user:ann")
    counters.incr("correct:user:ann", 2)
    counters.incr("correct:room:main")
    assert counters.get("correct:user:ann") == 3
    assert counters.get("correct:room:main") == 1
    assert counters.available and not counters.incomplete


def test_counters_incr_each(counters: Counters) -> None:
    counters.incr("rounds:won", 4)
    counters.incr_each(["rounds:won", "correct:total", "correct:user:ann"])
    counters.incr_each([])
    assert counters.get("rounds:won") == 5
    assert counters.get("correct:total") == 1
    assert counters.get("correct:user:ann") == 1
    assert counters.available and not counters.incomplete


def test_planted_pickle_never_runs(memcached_server: Service, tmp_path: Path) -> None:
    """A value stored with python-memcached's pickle flag reads as missing; nothing executes."""
    from guessnet.storage.memcached_backend import MemcachedCounters, RefusingPickler, _key
    marker = tmp_path / "pwned"
    evil = (b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR.")
    with socket.create_connection(("127.0.0.1", memcached_server.port), timeout=5) as raw:
        raw.sendall(b"set " + _key("correct:user:eve").encode() + b" 1 0 "
                    + str(len(evil)).encode() + b"\r\n" + evil + b"\r\n")
        assert raw.recv(100).startswith(b"STORED")
    counters = MemcachedCounters(f"127.0.0.1:{memcached_server.port}")
    try:
        assert counters.get("correct:user:eve") == 0
        assert not marker.exists()
        with pytest.raises(TypeError):
            RefusingPickler(None).dump({"not": "a string"})  # type: ignore[arg-type]
    finally:
        counters.close()


def test_memcached_down_then_back(tmp_path: Path) -> None:
    from guessnet.storage.memcached_backend import MemcachedCounters
    from tests.services import memcached_service
    service = memcached_service().start()
    try:
        counters = MemcachedCounters(f"127.0.0.1:{service.port}")
        counters.incr("k")
        service.kill()
        counters.incr("k")  # the game goes on: no exception
        assert counters.get("k") is None
        assert not counters.available and counters.incomplete
        service.start()
        counters.retry_now()
        counters.incr("k")
        assert counters.get("k") == 1
        assert counters.available and counters.incomplete  # still says counts are partial
        counters.close()
    finally:
        service.stop()


def test_unreachable_backends_raise_backend_error() -> None:
    from guessnet.storage import redis_backend
    from guessnet.storage.memcached_backend import MemcachedCounters
    from tests.services import free_port
    port = free_port()
    with pytest.raises(BackendError):
        redis_backend.connect(f"redis://127.0.0.1:{port}/0")
    with pytest.raises(BackendError):
        MemcachedCounters(f"127.0.0.1:{port}")


def test_a_keyed_game_is_stored_once(store: Store) -> None:
    first = store.save_game(dict(game("ann", ["ann"]), key="main/3/100.5"))
    again = store.save_game(dict(game("ann", ["ann"]), key="main/3/100.5"))  # a replay
    other = store.save_game(dict(game("ann", ["ann"]), key="main/4/110.5"))
    unkeyed = [store.save_game(game("ann", ["ann"])) for _ in range(2)]
    assert again == first and len({first, other, *unkeyed}) == 4
    assert store.count_games() == 4
    assert [(r.player, r.played) for r in store.leaders("single")] == [("ann", 4)]
    guests = dict(game("gus", ["gus"]), results=[], key="main/5/120.5")  # no account: no results
    assert store.save_game(guests) == store.save_game(guests)
    assert store.count_games() == 5
    stored = store.get_game(store.save_game(guests))
    assert stored is not None and stored["winner"] == "gus" and stored["results"] == []


def test_games_saved_together_are_each_stored_once_in_order(store: Store) -> None:
    """``save_games`` (round ends written in one transaction): ids in order, a key already
    stored keeps its id, the results count on the leaderboard, a guest's round has none."""
    earlier = store.save_game(dict(game("ann", ["ann"]), key="main/1/1.5"))
    ids = store.save_games([
        dict(game("bob", ["bob"]), key="main/2/2.5"),
        dict(game("ann", ["ann"]), key="main/1/1.5"),  # stored already (a replay)
        dict(game("gus", ["gus"]), results=[], key="main/3/3.5"),
        game("ann", ["ann"], ended=40)])
    assert ids[1] == earlier and ids[0] < ids[2] < ids[3] and earlier < ids[0]
    assert store.count_games() == 4
    assert [(r.player, r.played) for r in store.leaders("single")] == [("ann", 2), ("bob", 1)]
    assert store.get_game(ids[2])["winner"] == "gus"  # type: ignore[index]
    assert store.save_games([]) == []
    assert store.save_games([dict(game("cy", ["cy"]), key="k")]) == \
        [store.save_game(dict(game("cy", ["cy"]), key="k"))]


def test_sqlite_reads_games_stored_with_their_id_inside(tmp_path: Path) -> None:
    """Earlier versions put the id in the stored JSON as well; such rows read as before."""
    import json
    import sqlite3

    from guessnet.storage.sqlite import SQLiteStore
    path = tmp_path / "old.sqlite3"
    SQLiteStore(path).close()  # the schema
    old = dict(game("ann", ["ann"]), id=1)
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO games(id, game, mode, room, ended, record) VALUES (1,?,?,?,?,?)",
                   ("guess", "single", None, 100.0, json.dumps(old, separators=(",", ":"))))
    store = SQLiteStore(path)
    try:
        assert store.get_game(1) == old
        assert [g.game_id for g in store.recent_games(5)] == [1]
        assert store.save_game(game("bob", ["bob"])) == 2
        assert store.get_game(2) == dict(game("bob", ["bob"]), id=2)
    finally:
        store.close()


def test_redis_store_saves_after_its_script_cache_is_flushed(redis_url: str) -> None:
    """A restarted Redis has forgotten the save script: the next save loads it again."""
    from guessnet.storage import redis_backend, redis_store
    client = redis_backend.connect(redis_url)
    store = redis_store.RedisStore(client)
    first = store.save_game(game("ann", ["ann"]))
    client.script_flush()
    second = store.save_game(dict(game("ann", ["ann"]), key="main/1/10.5"))
    assert second == first + 1 and store.save_game(dict(game("ann", ["ann"]),
                                                        key="main/1/10.5")) == second
    stored = store.get_game(second)
    assert stored is not None and stored["id"] == second and stored["key"] == "main/1/10.5"
    assert [(r.player, r.wins, r.played, r.best) for r in store.leaders("single")] == \
        [("ann", 2, 2, 1)]
    store.close()


def test_sanctions_are_kept_replaced_lifted_and_forgotten_when_over(store: Store) -> None:
    ban = Sanction("ban", "name", "ann", until=200.0, reason="spam", by="admin", since=100.0)
    store.set_sanction(ban)
    store.set_sanction(Sanction("ban", "address", "10.0.0.9", 150.0, "", "admin", 100.0))
    store.set_sanction(Sanction("mute", "name", "ann", 300.0, "", "admin", 100.0))
    assert sorted((s.kind, s.scope, s.target) for s in store.sanctions(120.0)) == [
        ("ban", "address", "10.0.0.9"), ("ban", "name", "ann"), ("mute", "name", "ann")]
    assert ban in store.sanctions(120.0)  # every field comes back as it went in
    store.set_sanction(Sanction("ban", "name", "ann", 400.0, "again", "admin", 110.0))
    assert [s.until for s in store.sanctions(120.0) if s.kind == "ban" and s.scope == "name"] \
        == [400.0]  # replaced, not doubled
    assert [s.target for s in store.sanctions(160.0) if s.scope == "address"] == []  # over
    assert store.lift_sanction("mute", "name", "ann")
    assert not store.lift_sanction("mute", "name", "ann")
    assert [(s.kind, s.scope) for s in store.sanctions(160.0)] == [("ban", "name")]


def test_a_rename_carries_password_games_and_results(store: Store) -> None:
    store.create_user("Ann", "hash1", 1.0)
    store.create_user("bob", "hash2", 1.0)
    played = store.save_game(game("Ann", ["Ann", "bob"], board="multi"))
    assert not store.rename_user("nobody", "zed")
    with pytest.raises(NameTaken):
        store.rename_user("ann", "BOB")
    assert store.rename_user("ann", "Anna")
    assert store.get_user("ann") is None
    user = store.get_user("anna")
    assert user is not None and (user.name, user.password_hash) == ("Anna", "hash1")
    assert [row.player for row in store.leaders("multi")] == ["Anna", "bob"]
    # in the new name's history; the record keeps the name the game was played under
    assert [(g.game_id, g.winner) for g in store.recent_games(5, player="Anna")] == \
        [(played, "Ann")]
    assert store.recent_games(5, player="Ann") == []
    store.create_user("ann", "hash3", 2.0)  # the old name is free again


def test_games_since_returns_whole_records_oldest_first(store: Store) -> None:
    for ended in (100.0, 200.0, 300.0, 400.0):
        record = game("ann", ["ann"], ended=ended)
        record["room"] = "main" if ended != 300.0 else "side"
        store.save_game(record)
    assert [g["ended"] for g in store.games_since(200.0, None, 10)] == [200.0, 300.0, 400.0]
    assert [g["ended"] for g in store.games_since(0.0, "main", 10)] == [100.0, 200.0, 400.0]
    assert [g["ended"] for g in store.games_since(0.0, None, 2)] == [300.0, 400.0]
    whole = store.games_since(400.0, None, 1)[0]
    assert whole["moves"] and whole["players"] == ["ann"] and whole["secret"] == 4


def test_sqlite_account_names_follow_what_was_written(tmp_path: Path) -> None:
    """The SQLite store answers "is this an account?" from the names it keeps (no query at
    every join): a registration or a rename that could not be written leaves the accounts as
    they were, one written is known at once, and a rename moves it."""
    import sqlite3

    from guessnet.storage.sqlite import SQLiteStore
    path = tmp_path / "accounts.sqlite3"
    store = SQLiteStore(path, timeout=0.2)
    try:
        store.create_user("ann", "scrypt$1", 1.0)
        assert store.accounts_among(["ann", "gus"]) == {"ann"}
        blocker = sqlite3.connect(path, timeout=5, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # another program holds the write lock
        try:
            with pytest.raises(BackendError):
                store.create_user("bob", "scrypt$2", 2.0)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert store.get_user("bob") is None and store.accounts_among(["bob"]) == set()
        store.create_user("Bob", "scrypt$3", 3.0)
        user = store.get_user("bob")
        assert user is not None and user.name == "Bob"
        assert store.rename_user("Bob", "carl")
        assert store.get_user("bob") is None and store.accounts_among(["carl"]) == {"carl"}
        blocker = sqlite3.connect(path, timeout=5, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(BackendError):
                store.rename_user("carl", "dora")
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert store.get_user("dora") is None and store.get_user("carl") is not None
        assert store.accounts_among(["carl", "dora"]) == {"carl"}
        reopened = SQLiteStore(path)  # the names read at start
        assert reopened.accounts_among(["ann", "bob", "carl"]) == {"ann", "carl"}
        reopened.close()
    finally:
        store.close()
