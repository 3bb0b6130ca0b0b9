"""The durable store in Redis: accounts, games (history) and a sorted set per leaderboard.

A finished game is one Lua script: one round trip, applied whole or not at all.  Failures are
translated by ``redis_backend.translate_errors``, like every Redis backend's.
"""

from __future__ import annotations

import json
from collections.abc import Collection

import redis

from guessnet.storage.base import (
    GameSummary,
    JSONDict,
    LeaderRow,
    NameTaken,
    Store,
    UserRecord,
    name_key,
    stored_game,
    summarize,
)
from guessnet.storage.redis_backend import PREFIX, translate_errors

# A finished game in one script (ARGV: the key prefix, the game's key or "", its JSON, then five
# values per leaderboard result: player key, name, board, won 1/0, tries or "").  A key already
# stored returns that game's id and writes nothing.  The keys it writes follow from the
# arguments, which a single Redis (not a cluster) allows.
_SAVE_GAME = """
local prefix, key = ARGV[1], ARGV[2]
if key ~= "" then
  local known = redis.call("GET", prefix .. "game-key:" .. key)
  if known then return tonumber(known) end
end
local id = redis.call("INCR", prefix .. "games:next")
if key ~= "" then redis.call("SET", prefix .. "game-key:" .. key, id) end
redis.call("SET", prefix .. "game:" .. id, ARGV[3])
redis.call("LPUSH", prefix .. "games", id)
for i = 4, #ARGV, 5 do
  local player, name, board, won, tries = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3],
    ARGV[i + 4]
  local stats = prefix .. "stats:" .. board .. ":" .. player
  local leaders = prefix .. "leaders:" .. board
  redis.call("LPUSH", prefix .. "player-games:" .. player, id)
  redis.call("HSET", stats, "name", name)
  redis.call("HINCRBY", stats, "played", 1)
  -- score = wins * 1e7 - played: most wins first, then fewest rounds
  redis.call("ZINCRBY", leaders, -1, player)
  if won == "1" then
    redis.call("HINCRBY", stats, "wins", 1)
    redis.call("ZINCRBY", leaders, 10000000, player)
    if tries ~= "" then redis.call("ZADD", prefix .. "best:" .. board, "LT", tries, player) end
  end
end
return id
"""


class RedisStore(Store):
    """Accounts, games and leaderboards in Redis (run it with AOF for durability)."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._save_game = client.register_script(_SAVE_GAME)  # EVALSHA, EVAL when flushed

    def create_user(self, name: str, password_hash: str, now: float) -> None:
        record = json.dumps({"name": name, "password_hash": password_hash, "created": now})
        with translate_errors("create user"):
            if not self._client.set(f"{PREFIX}user:{name_key(name)}", record, nx=True):
                raise NameTaken(name)

    def get_user(self, name: str) -> UserRecord | None:
        with translate_errors("get user"):
            raw = self._client.get(f"{PREFIX}user:{name_key(name)}")
        if not raw:
            return None
        data = json.loads(raw)
        return UserRecord(data["name"], data["password_hash"], data["created"])

    def accounts_among(self, names: Collection[str]) -> set[str]:
        ordered = list(names)
        if not ordered:
            return set()
        with translate_errors("find accounts"), self._client.pipeline(transaction=False) as pipe:
            for name in ordered:
                pipe.exists(f"{PREFIX}user:{name_key(name)}")
            found = pipe.execute()
        return {name for name, exists in zip(ordered, found, strict=True) if exists}

    def set_password(self, name: str, password_hash: str) -> None:
        key = f"{PREFIX}user:{name_key(name)}"
        with translate_errors("set password"), self._client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    if not raw:
                        return
                    data = dict(json.loads(raw), password_hash=password_hash)
                    pipe.multi()
                    pipe.set(key, json.dumps(data))
                    pipe.execute()
                    return
                except redis.WatchError:
                    continue

    def save_game(self, record: JSONDict) -> int:
        """One round trip: ``_SAVE_GAME`` runs alone in Redis, so the key check, the new id,
        the record and the leaderboard are written together or not at all.  The stored JSON
        leaves out the id, which is the game's key name (readers add it)."""
        args: list[str | int] = [PREFIX, record.get("key") or "",
                                 json.dumps(record, separators=(",", ":"))]
        for result in record.get("results", ()):
            tries = result.get("tries")
            args += [name_key(result["player"]), result["player"], result["board"],
                     1 if result["won"] else 0, "" if tries is None else tries]
        with translate_errors("save game"):
            return int(self._save_game(args=args))

    def get_game(self, game_id: int) -> JSONDict | None:
        with translate_errors("get game"):
            raw = self._client.get(f"{PREFIX}game:{game_id}")
        return stored_game(game_id, raw) if raw else None

    def recent_games(self, limit: int, player: str | None = None) -> list[GameSummary]:
        key = f"{PREFIX}games" if player is None else f"{PREFIX}player-games:{name_key(player)}"
        with translate_errors("recent games"):
            ids = [int(i) for i in self._client.lrange(key, 0, limit - 1)]
            raws = self._client.mget([f"{PREFIX}game:{i}" for i in ids]) if ids else []
        return [summarize(stored_game(game_id, raw))
                for game_id, raw in zip(ids, raws, strict=True) if raw]

    def count_games(self) -> int:
        with translate_errors("count games"):
            return int(self._client.llen(f"{PREFIX}games"))

    def leaders(self, board: str, limit: int = 10) -> list[LeaderRow]:
        with translate_errors("leaders"):
            top = [str(p) for p in
                   self._client.zrevrange(f"{PREFIX}leaders:{board}", 0, limit * 3 - 1)]
            pipe = self._client.pipeline(transaction=False)
            for player in top:
                pipe.hgetall(f"{PREFIX}stats:{board}:{player}")
                pipe.zscore(f"{PREFIX}best:{board}", player)
            answers = pipe.execute()
        rows = []
        for i in range(0, len(answers), 2):
            stats, best = answers[i], answers[i + 1]
            rows.append(LeaderRow(player=stats.get("name", "?"), wins=int(stats.get("wins", 0)),
                                  played=int(stats.get("played", 0)),
                                  best=int(best) if best is not None else None))
        rows.sort(key=lambda r: (-r.wins, r.played, r.best if r.best is not None else 1 << 30,
                                 r.player))
        return rows[:limit]
