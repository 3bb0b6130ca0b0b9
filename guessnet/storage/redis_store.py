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
    Sanction,
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


# An account's new name (ARGV: the prefix, the old and new name keys, the new name, then each
# board the account has results on).  The account record, its list of games and, per board,
# its stats, leaderboard and best-score entries move to the new key, all or nothing.
_RENAME = """
local prefix, old, new, name = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local user = redis.call("GET", prefix .. "user:" .. old)
if not user then return 0 end
if old ~= new and redis.call("EXISTS", prefix .. "user:" .. new) == 1 then return -1 end
local record = cjson.decode(user)
record["name"] = name
redis.call("DEL", prefix .. "user:" .. old)
redis.call("SET", prefix .. "user:" .. new, cjson.encode(record))
if old ~= new and redis.call("EXISTS", prefix .. "player-games:" .. old) == 1 then
  redis.call("RENAME", prefix .. "player-games:" .. old, prefix .. "player-games:" .. new)
end
for i = 5, #ARGV do
  local board = ARGV[i]
  local stats = prefix .. "stats:" .. board .. ":"
  if redis.call("EXISTS", stats .. old) == 1 then
    if old ~= new then redis.call("RENAME", stats .. old, stats .. new) end
    redis.call("HSET", stats .. new, "name", name)
  end
  for _, set in ipairs({prefix .. "leaders:" .. board, prefix .. "best:" .. board}) do
    local score = redis.call("ZSCORE", set, old)
    if score and old ~= new then
      redis.call("ZREM", set, old)
      redis.call("ZADD", set, score, new)
    end
  end
end
return 1
"""


class RedisStore(Store):
    """Accounts, games and leaderboards in Redis (run it with AOF for durability)."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._save_game = client.register_script(_SAVE_GAME)  # EVALSHA, EVAL when flushed
        self._rename = client.register_script(_RENAME)

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

    def rename_user(self, name: str, new: str) -> bool:
        old_key = name_key(name)
        with translate_errors("rename user"):
            boards = sorted({str(key).split(":")[-2] for key in self._client.scan_iter(
                f"{PREFIX}stats:*:{old_key}", count=500)})
            done = int(self._rename(args=[PREFIX, old_key, name_key(new), new, *boards]))
        if done < 0:
            raise NameTaken(new)
        return done > 0

    def set_sanction(self, sanction: Sanction) -> None:
        field = f"{sanction.kind}|{sanction.scope}|{sanction.target}"
        with translate_errors("set sanction"):
            self._client.hset(f"{PREFIX}sanctions", field, json.dumps(sanction.to_dict()))

    def lift_sanction(self, kind: str, scope: str, target: str) -> bool:
        with translate_errors("lift sanction"):
            return bool(self._client.hdel(f"{PREFIX}sanctions", f"{kind}|{scope}|{target}"))

    def sanctions(self, now: float) -> list[Sanction]:
        with translate_errors("sanctions"):
            raw = self._client.hgetall(f"{PREFIX}sanctions")
            found = [Sanction.from_dict(json.loads(value)) for value in raw.values()]
            over = [f"{s.kind}|{s.scope}|{s.target}" for s in found if s.until <= now]
            if over:
                self._client.hdel(f"{PREFIX}sanctions", *over)
        return sorted((s for s in found if s.until > now), key=lambda s: s.until)

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

    def games_since(self, since: float, room: str | None, limit: int) -> list[JSONDict]:
        """The games list is newest first: read it a page at a time (a game journaled during
        an outage is stored late, so the whole list is read, not only up to ``since``)."""
        found: list[JSONDict] = []
        start, page = 0, 500
        with translate_errors("games since"):
            while len(found) < limit:
                ids = [int(i) for i in self._client.lrange(f"{PREFIX}games", start,
                                                           start + page - 1)]
                if not ids:
                    break
                raws = self._client.mget([f"{PREFIX}game:{i}" for i in ids])
                for game_id, raw in zip(ids, raws, strict=True):
                    record = stored_game(game_id, raw) if raw else None
                    if record is None or float(record["ended"]) < since or \
                            (room is not None and record.get("room") != room):
                        continue
                    found.append(record)
                    if len(found) == limit:
                        break
                start += page
        return list(reversed(found))

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
