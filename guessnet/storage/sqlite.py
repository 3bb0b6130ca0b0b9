"""SQLite store: the embedded default for accounts, history and the leaderboard.

WAL mode; a small pool of connections for readers, each used by one thread at a time (a server
has thousands of handler threads: one connection each would be thousands of open databases),
and one connection for writers, who take turns under a lock; one commit per account change or
finished game.  ``synchronous=NORMAL`` in WAL mode makes every commit durable
against the process being killed (``kill -9`` loses at most the round being played); only a power
cut can lose the last commits.  The schema version lives in ``PRAGMA user_version`` and every
older database is migrated step by step, never discarded.
"""

from __future__ import annotations

import contextlib
import json
import queue
import sqlite3
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path

from guessnet.storage.base import (
    BackendError,
    GameSummary,
    JSONDict,
    LeaderRow,
    NameTaken,
    Sanction,
    Store,
    UserRecord,
    name_key,
    stored_game,
    summarize,
)
from guessnet.storage.sqlite_schema import MIGRATIONS, backfill_results, insert_results

SCHEMA_VERSION = len(MIGRATIONS)
# one encoder for every game stored (json.dumps with options builds one a call); records are
# never cyclic: no cycle check
_COMPACT = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode
POOL_SIZE = 4


def backend_error(path: Path, exc: sqlite3.Error) -> BackendError:
    """A sqlite3 failure as our BackendError (the one wording this backend gives it)."""
    return BackendError(f"SQLite database {path.name}: {exc}")


@contextlib.contextmanager
def translate_errors(path: Path) -> Iterator[None]:
    """Turn any sqlite3 failure into our BackendError (``_WriteTurn`` does it for writes)."""
    try:
        yield
    except sqlite3.Error as exc:
        raise backend_error(path, exc) from exc


class SQLiteStore(Store):
    def __init__(self, path: Path, pool_size: int = POOL_SIZE, timeout: float = 10.0) -> None:
        self.path = path
        self._timeout = timeout  # seconds a writer waits for another connection's lock
        self._pool: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        self._all: list[sqlite3.Connection] = []
        self._pool_size = pool_size
        self._lock = threading.Lock()
        # Writers take turns here rather than in SQLite's busy handler, which sleeps 1, 2, 5,
        # 10... ms between retries: a round end queued behind another waited milliseconds.
        # Taken before a pooled connection, so waiting writers leave the pool to readers.
        self._write_lock = threading.Lock()
        # Every account's name key, read at start and kept as accounts are created and
        # renamed: this process is the database's only writer of accounts (without Redis
        # there is one server process), and a guest's name then costs no query at each join.
        self._accounts: set[str] = set()
        self._busy_ms = int(timeout * 1000)  # the writer connection's busy timeout, as set
        self._writer: sqlite3.Connection | None = None
        with translate_errors(path):
            path.parent.mkdir(parents=True, exist_ok=True)
        with self._using() as db:
            self._migrate(db)
            self._accounts = {row[0] for row in db.execute("SELECT name_key FROM users")}

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None,
                             check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        return db

    @contextlib.contextmanager
    def _using(self) -> Iterator[sqlite3.Connection]:
        """A pooled connection for this thread alone, inside the error translation."""
        with translate_errors(self.path):
            try:
                db = self._pool.get_nowait()
            except queue.Empty:
                with self._lock:
                    grow = len(self._all) < self._pool_size
                    if grow:
                        db = self._open()
                        self._all.append(db)
                if not grow:
                    db = self._pool.get(timeout=30)
            try:
                yield db
            finally:
                self._pool.put(db)

    def _writing(self) -> _WriteTurn:
        """The write turn and the writer's connection (see ``_WriteTurn``)."""
        return _WriteTurn(self)

    def _writer_connection(self) -> sqlite3.Connection:
        """The one connection writes use (with the write lock held): writers never wait for
        a pooled connection, nor take one from readers."""
        if self._writer is None:  # (not in ``_all``: that counts the readers' pool)
            self._writer = self._open()
        return self._writer

    @staticmethod
    def _migrate(db: sqlite3.Connection) -> None:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise BackendError(
                f"database schema version {version} is newer than this server ({SCHEMA_VERSION})")
        for number in range(version, SCHEMA_VERSION):
            db.execute("BEGIN IMMEDIATE")
            try:
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        db.execute(statement)
                if number + 1 == 2:
                    backfill_results(db)
                db.execute(f"PRAGMA user_version = {number + 1}")
                db.execute("COMMIT")
            except BaseException:
                _roll_back(db)
                raise

    # ------------------------------------------------------------------ accounts

    @contextlib.contextmanager
    def _account_named(self, key: str) -> Iterator[None]:
        """Around a write naming an account ``key``: known before it is written (a reader
        between commit and update would answer "no such account"), forgotten if it fails."""
        known = key in self._accounts
        self._accounts.add(key)
        try:
            yield
        except NameTaken:  # an account has that name: it stays known
            raise
        except BaseException:
            if not known:
                self._accounts.discard(key)
            raise

    def create_user(self, name: str, password_hash: str, now: float) -> None:
        key = name_key(name)
        with self._account_named(key), self._writing() as db:
            try:
                db.execute("INSERT INTO users(name_key, name, password_hash, created) "
                           "VALUES (?,?,?,?)", (key, name, password_hash, now))
            except sqlite3.IntegrityError:
                raise NameTaken(name) from None

    def get_user(self, name: str) -> UserRecord | None:
        if name_key(name) not in self._accounts:  # a guest's name: no query (every join)
            return None
        with self._using() as db:
            row = db.execute(
                "SELECT name, password_hash, created FROM users WHERE name_key = ?",
                (name_key(name),)).fetchone()
        return UserRecord(*row) if row else None

    def accounts_among(self, names: Collection[str]) -> set[str]:
        """Asked at every game's end: answered from the account names."""
        accounts = self._accounts
        return {name for name in names if name_key(name) in accounts}

    def set_password(self, name: str, password_hash: str) -> None:
        with self._writing() as db:
            db.execute("UPDATE users SET password_hash = ? WHERE name_key = ?",
                       (password_hash, name_key(name)))

    def rename_user(self, name: str, new: str) -> bool:
        """One transaction: the account and its leaderboard results (games keep the names
        they were played under)."""
        with self._writing() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                found = db.execute("SELECT 1 FROM users WHERE name_key = ?",
                                   (name_key(name),)).fetchone()
                if found is None:
                    db.execute("ROLLBACK")
                    return False
                if name_key(new) != name_key(name) and db.execute(
                        "SELECT 1 FROM users WHERE name_key = ?", (name_key(new),)).fetchone():
                    db.execute("ROLLBACK")
                    raise NameTaken(new)
                old_key, new_key = name_key(name), name_key(new)
                with self._account_named(new_key):
                    db.execute("UPDATE users SET name_key = ?, name = ? WHERE name_key = ?",
                               (new_key, new, old_key))
                    db.execute("UPDATE results SET player_key = ?, player = ? "
                               "WHERE player_key = ?", (new_key, new, old_key))
                    db.execute("COMMIT")
                if old_key != new_key:
                    self._accounts.discard(old_key)
            except NameTaken:
                raise
            except BaseException:
                _roll_back(db)
                raise
        return True

    # ------------------------------------------------------------------ sanctions

    def set_sanction(self, sanction: Sanction) -> None:
        with self._writing() as db:
            db.execute("DELETE FROM sanctions WHERE until <= ?", (sanction.since,))
            db.execute("INSERT OR REPLACE INTO sanctions(kind, scope, target, until, record) "
                       "VALUES (?,?,?,?,?)", (sanction.kind, sanction.scope, sanction.target,
                                              sanction.until, json.dumps(sanction.to_dict())))

    def lift_sanction(self, kind: str, scope: str, target: str) -> bool:
        with self._writing() as db:
            cursor = db.execute("DELETE FROM sanctions WHERE kind = ? AND scope = ? AND "
                                "target = ?", (kind, scope, target))
        return cursor.rowcount > 0

    def sanctions(self, now: float) -> list[Sanction]:
        with self._using() as db:
            rows = db.execute("SELECT record FROM sanctions WHERE until > ? ORDER BY until",
                              (now,)).fetchall()
        return [Sanction.from_dict(json.loads(row[0])) for row in rows]

    # ------------------------------------------------------------------ games

    def save_game(self, record: JSONDict) -> int:
        return self.save_games([record])[0]

    def save_games(self, records: Sequence[JSONDict]) -> list[int]:
        """One transaction for them all; one statement for a single game without
        leaderboard results (a guest's round: an INSERT is atomic on its own).  The stored
        JSON leaves out the id, which is the row's (readers add it), so a game is written
        once, not inserted then updated; a key already stored inserts nothing and returns
        that game's id."""
        if not records:
            return []
        texts = [_COMPACT(record) for record in records]  # (before the write turn)
        with self._writing() as db:
            return _write_games(db, records, texts)

    def get_game(self, game_id: int) -> JSONDict | None:
        with self._using() as db:
            row = db.execute("SELECT id, record FROM games WHERE id = ?",
                             (game_id,)).fetchone()
        return stored_game(*row) if row else None

    def recent_games(self, limit: int, player: str | None = None) -> list[GameSummary]:
        with self._using() as db:
            if player is None:
                rows = db.execute(
                    "SELECT id, record FROM games ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
            else:
                rows = db.execute(
                    "SELECT g.id, g.record FROM games g WHERE g.id IN (SELECT game_id FROM "
                    "results WHERE player_key = ?) ORDER BY g.id DESC LIMIT ?",
                    (name_key(player), limit)).fetchall()
        return [summarize(stored_game(*row)) for row in rows]

    def games_since(self, since: float, room: str | None, limit: int) -> list[JSONDict]:
        where, args = ("ended >= ? AND room = ?", (since, room)) if room is not None else \
            ("ended >= ?", (since,))
        with self._using() as db:
            rows = db.execute(f"SELECT id, record FROM games WHERE {where} "  # noqa: S608
                              "ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        return [stored_game(*row) for row in reversed(rows)]

    def count_games(self) -> int:
        with self._using() as db:
            return int(db.execute("SELECT COUNT(*) FROM games").fetchone()[0])

    def leaders(self, board: str, limit: int = 10) -> list[LeaderRow]:
        with self._using() as db:
            rows = db.execute(
                "SELECT MAX(player), SUM(won), COUNT(*), MIN(CASE WHEN won THEN tries END) "
                "FROM results WHERE board = ? GROUP BY player_key "
                "ORDER BY SUM(won) DESC, COUNT(*) ASC, MIN(CASE WHEN won THEN tries END) ASC, "
                "MAX(player) LIMIT ?", (board, limit)).fetchall()
        return [LeaderRow(player=p, wins=int(w), played=int(n), best=b) for p, w, n, b in rows]

    def close(self) -> None:
        with self._lock:
            for db in self._all:
                db.close()
            self._all.clear()
            if self._writer is not None:  # (as the pooled ones: not waiting for a writer)
                self._writer.close()
                self._writer = None


class _WriteTurn:
    """``with store._writing() as db``: the write turn and the writer's connection, within
    the store's ``timeout`` seconds all told: a writer queued behind one that waits out
    another process's lock (a backup, a ``sqlite3`` shell) gives up when its own time is up,
    not the first one's plus its own (``BackendError``: the caller journals the game).

    A class, not a generator: it runs at every game's end, and ``contextlib``'s wrapper
    costs more Python calls than the turn itself."""

    __slots__ = ("_store",)

    def __init__(self, store: SQLiteStore) -> None:
        self._store = store

    def __enter__(self) -> sqlite3.Connection:
        store = self._store
        db = store._writer
        if db is not None and store._busy_ms == int(store._timeout * 1000) and \
                store._write_lock.acquire(blocking=False):
            return db  # the turn at once, the whole timeout left (most games' ends)
        return self._wait_turn(store)

    @staticmethod
    def _wait_turn(store: SQLiteStore) -> sqlite3.Connection:
        """The turn, waiting for it; SQLite's busy timeout set to the time left."""
        timeout = store._timeout
        deadline = time.monotonic() + timeout
        if not store._write_lock.acquire(timeout=timeout):
            raise BackendError(f"SQLite database {store.path.name}: database is locked (still "
                               f"waiting for the write turn after {timeout:g} s)")
        try:
            db = store._writer_connection()
            full = int(timeout * 1000)
            left = max(100, int((deadline - time.monotonic()) * 10) * 100)
            wanted = full if left >= full - 100 else left  # (set only when it changes)
            if store._busy_ms != wanted:
                db.execute(f"PRAGMA busy_timeout = {wanted}")
                store._busy_ms = wanted
        except sqlite3.Error as exc:
            store._write_lock.release()
            raise backend_error(store.path, exc) from exc
        except BaseException:
            store._write_lock.release()
            raise
        return db

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 trace: object) -> None:
        store = self._store
        store._write_lock.release()
        if isinstance(exc, sqlite3.Error):
            raise backend_error(store.path, exc) from exc


def _roll_back(db: sqlite3.Connection) -> None:
    """Undo the open transaction, if SQLite did not already (it does on a full disk): a
    failing ROLLBACK must not hide the error that caused it."""
    if db.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")


def _write_games(db: sqlite3.Connection, records: Sequence[JSONDict],
                 texts: list[str]) -> list[int]:
    if len(records) == 1 and not records[0].get("results"):
        return [_insert_game(db, records[0], texts[0])[0]]
    db.execute("BEGIN IMMEDIATE")
    try:
        ids = []
        for record, text in zip(records, texts, strict=True):
            game_id, new = _insert_game(db, record, text)
            if new and record.get("results"):
                insert_results(db, game_id, record["results"])
            ids.append(game_id)
        db.execute("COMMIT")
    except BaseException:
        _roll_back(db)
        raise
    return ids


def _insert_game(db: sqlite3.Connection, record: JSONDict, text: str) -> tuple[int, bool]:
    """The game's id, and whether it is new (False: its key was stored already)."""
    key = record.get("key")
    cursor = db.execute(
        "INSERT INTO games(game, mode, room, ended, record, key) VALUES (?,?,?,?,?,?) "
        "ON CONFLICT(key) DO NOTHING",
        (record["game"], record["mode"], record.get("room"), record["ended"], text, key))
    if cursor.rowcount:
        return int(cursor.lastrowid or 0), True
    return int(db.execute("SELECT id FROM games WHERE key = ?", (key,)).fetchone()[0]), False
