"""The SQLite store's schema: every version's migration, in order; and a game's leaderboard
results as rows, which a migration derives for the games stored before them.

``PRAGMA user_version`` holds the version a database is at; ``SQLiteStore`` applies the
migrations after it, one transaction each, and never discards an older database.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable

from guessnet.storage.base import JSONDict, name_key

MIGRATIONS: tuple[str, ...] = (
    # 1: accounts and games
    """
    CREATE TABLE users (
        name_key TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        created REAL NOT NULL
    );
    CREATE TABLE games (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        game TEXT NOT NULL,
        mode TEXT NOT NULL,
        room TEXT,
        ended REAL NOT NULL,
        record TEXT NOT NULL
    );
    """,
    # 2: per-account results, for the leaderboard and "my history" without scanning JSON
    """
    CREATE TABLE results (
        game_id INTEGER NOT NULL REFERENCES games(id),
        board TEXT NOT NULL,
        player_key TEXT NOT NULL,
        player TEXT NOT NULL,
        won INTEGER NOT NULL,
        tries INTEGER
    );
    CREATE INDEX results_board ON results(board, player_key);
    CREATE INDEX results_player ON results(player_key, game_id);
    """,
    # 3: a game's key, so that a game written twice (a journal replayed) is stored once
    """
    ALTER TABLE games ADD COLUMN key TEXT;
    CREATE UNIQUE INDEX games_key ON games(key);
    """,
    # 4: the host's bans and mutes, which outlive a restart
    """
    CREATE TABLE sanctions (
        kind TEXT NOT NULL,
        scope TEXT NOT NULL,
        target TEXT NOT NULL,
        until REAL NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (kind, scope, target)
    );
    """,
)


def insert_results(db: sqlite3.Connection, game_id: int, results: Iterable[JSONDict]) -> None:
    db.executemany(
        "INSERT INTO results(game_id, board, player_key, player, won, tries) "
        "VALUES (?,?,?,?,?,?)",
        [(game_id, result["board"], name_key(result["player"]), result["player"],
          1 if result["won"] else 0, result.get("tries")) for result in results])


def backfill_results(db: sqlite3.Connection) -> None:
    """Migration 2: derive the results rows of games stored by version 1."""
    for game_id, text in db.execute("SELECT id, record FROM games").fetchall():
        insert_results(db, game_id, json.loads(text).get("results", ()))
