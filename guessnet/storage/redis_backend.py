"""Redis backends: the message queue (pub/sub), shared rooms, presence and the durable store.

Several server processes pointed at one Redis serve one game:

* ``RedisBus``: one pub/sub connection per process, owned by one listener thread.  Other threads
  ask it to subscribe through a queue and wait until Redis confirms, so nothing published after
  ``subscribe`` returns is missed.  The thread starts in ``start``, not in the constructor.
  When the connection breaks the thread reconnects with backoff, subscribes again and calls
  the ``on_reconnect`` hooks: pub/sub is at most once, so the hub then re-reads room state
  instead of trusting that it missed nothing.
* ``RedisRoomStore``: a room is one JSON value changed under WATCH/MULTI; its broadcasts are
  PUBLISHed inside the same MULTI, so a transition and its messages happen once, in order, and
  when two processes race for a winning guess exactly one transaction commits.
* ``RedisPresence``: names and sessions with a TTL, refreshed by each live process, so a crashed
  process's players disappear within ``PRESENCE_TTL`` seconds.
* ``RedisStore``: accounts, games (history) and a sorted set per leaderboard; a finished game
  is one Lua script (one round trip, applied whole or not at all).

Every Redis failure is turned into ``BackendError`` in ``translate_errors`` and nowhere else.
Short socket timeouts keep a dead Redis from freezing a handler for long.
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any

import redis

from guessnet.games.guess import GuessRoom
from guessnet.storage.base import (
    BackendError,
    Bus,
    GameSummary,
    Handler,
    JSONDict,
    LeaderRow,
    NameTaken,
    Presence,
    RoomStore,
    Store,
    T,
    Transition,
    UserRecord,
    name_key,
    room_channel,
    stored_game,
    summarize,
)

PREFIX = "guessnet:"
PRESENCE_TTL = 30
SOCKET_TIMEOUT = 2.0
POOL_SIZE = 1024  # connections per process (Redis allows 10,000 clients by default)
POOL_WAIT = 10.0  # seconds a caller waits for a free connection before "unavailable"


@contextlib.contextmanager
def translate_errors(what: str) -> Iterator[None]:
    """The one place Redis exceptions become ours."""
    try:
        yield
    except redis.RedisError as exc:
        raise BackendError(f"Redis unavailable ({what}): {exc}") from exc


def connect(url: str) -> redis.Redis:
    """A client for ``redis://host:port/db`` (or ``unix://PATH?db=N``) with short timeouts;
    checks that Redis answers.

    redis-py's default pool holds 100 connections and fails the 101st caller at once ("Too
    many connections"): with a handler thread per player, a few thousand players on Redis
    made every call fail.  This pool holds up to ``POOL_SIZE`` and a caller waits up to
    ``POOL_WAIT`` seconds for a free one."""
    pool = redis.BlockingConnectionPool.from_url(
        url, max_connections=POOL_SIZE, timeout=POOL_WAIT, socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=SOCKET_TIMEOUT, health_check_interval=5, decode_responses=True)
    client = redis.Redis(connection_pool=pool)
    with translate_errors(f"ping {url}"):
        client.ping()
    return client


# --------------------------------------------------------------------------- bus

class RedisBus(Bus):
    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.Lock()
        self._requests: queue.Queue[tuple[str, str, threading.Event]] = queue.Queue()
        self._confirmed: dict[str, threading.Event] = {}
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._reconnect_hooks: list[Callable[[float], None]] = []
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the listener thread; return once it has subscribed to every channel given so
        far (raise ``BackendError`` if Redis does not let it in time)."""
        self._thread = threading.Thread(target=self._listen, name="redis-bus", daemon=True)
        self._thread.start()
        if not self._connected.wait(SOCKET_TIMEOUT * 2):
            raise BackendError("Redis did not accept the bus's subscriptions")

    def on_reconnect(self, hook: Callable[[float], None]) -> None:
        self._reconnect_hooks.append(hook)

    def publish(self, channel: str, payload: JSONDict) -> None:
        with translate_errors(f"publish {channel}"):
            self._client.publish(PREFIX + channel, json.dumps(payload, separators=(",", ":")))

    def subscribe(self, channel: str, handler: Handler) -> None:
        with self._lock:
            self._handlers[channel] = handler
        if self._thread is None:
            return  # the first connection subscribes to every channel known then
        done = threading.Event()
        self._requests.put(("subscribe", channel, done))
        if not done.wait(SOCKET_TIMEOUT * 2):
            raise BackendError(f"Redis did not confirm the subscription to {channel}")

    def unsubscribe(self, channel: str) -> None:
        with self._lock:
            self._handlers.pop(channel, None)
        self._requests.put(("unsubscribe", channel, threading.Event()))

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=3)

    def _listen(self) -> None:
        backoff = 0.1
        first = True
        lost_at: float | None = None  # wall-clock time the subscription was lost
        while not self._stop.is_set():
            pubsub = self._client.pubsub(ignore_subscribe_messages=False)
            try:
                with self._lock:
                    channels = [PREFIX + c for c in self._handlers]
                pubsub.subscribe(PREFIX + "-bus-heartbeat", *channels)
                self._connected.set()
                if not first:
                    for hook in list(self._reconnect_hooks):
                        hook(lost_at if lost_at is not None else time.time())
                first, lost_at = False, None
                backoff = 0.1
                self._pump(pubsub)
            except (redis.RedisError, OSError, BackendError):
                if lost_at is None:
                    lost_at = time.time()
                self._connected.clear()
                self._fail_pending()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 2.0)
            finally:
                with contextlib.suppress(Exception):
                    pubsub.close()

    def _fail_pending(self) -> None:
        """Requests that came while disconnected are answered by the resubscribe on reconnect;
        wake their callers now so no handler waits on a dead connection."""
        while True:
            try:
                _, _, done = self._requests.get_nowait()
            except queue.Empty:
                return
            done.set()

    def _pump(self, pubsub: Any) -> None:
        pending: dict[str, threading.Event] = {}
        while not self._stop.is_set():
            while True:
                try:
                    action, channel, done = self._requests.get_nowait()
                except queue.Empty:
                    break
                if action == "subscribe":
                    pending[PREFIX + channel] = done
                    pubsub.subscribe(PREFIX + channel)
                else:
                    pubsub.unsubscribe(PREFIX + channel)
                    done.set()
            message = pubsub.get_message(timeout=0.05)
            if message is None:
                continue
            channel = message["channel"]
            if message["type"] == "subscribe":
                waiter = pending.pop(channel, None)
                if waiter is not None:
                    waiter.set()
                continue
            if message["type"] != "message":
                continue
            with self._lock:
                handler = self._handlers.get(channel[len(PREFIX):])
            if handler is None:
                continue
            try:
                payload = json.loads(message["data"])
            except ValueError:
                continue
            if isinstance(payload, dict):
                handler(payload)


# --------------------------------------------------------------------------- rooms

class RedisRoomStore(RoomStore):
    def __init__(self, client: redis.Redis) -> None:
        self._client = client

    def transact(self, name: str, create: Callable[[], GuessRoom],
                 change: Callable[[GuessRoom], Transition[T]]) -> T:
        key = f"{PREFIX}room:{name}"
        with translate_errors(f"room {name}"):
            while True:
                with self._client.pipeline() as pipe:
                    try:
                        pipe.watch(key)
                        raw = pipe.get(key)
                        room = GuessRoom.from_dict(json.loads(raw)) if raw else create()
                        outcome = change(room)
                        pipe.multi()
                        if room.tries:
                            pipe.set(key, json.dumps(room.to_dict(), separators=(",", ":")))
                        else:
                            pipe.delete(key)
                        for payload in outcome.broadcasts or ():
                            pipe.publish(PREFIX + room_channel(name),
                                         json.dumps(payload, separators=(",", ":")))
                        pipe.execute()
                        return outcome.value
                    except redis.WatchError:
                        continue

    def rooms(self) -> Iterator[GuessRoom]:
        with translate_errors("list rooms"):
            keys = sorted(self._client.scan_iter(f"{PREFIX}room:*", count=500))
            values = self._client.mget(keys) if keys else []
        for raw in values:
            if raw:
                yield GuessRoom.from_dict(json.loads(raw))


# --------------------------------------------------------------------------- presence

class RedisPresence(Presence):
    def __init__(self, client: redis.Redis, ttl: float = PRESENCE_TTL) -> None:
        self._client = client
        self.ttl = ttl
        self._expiry_ms = max(1, round(ttl * 1000))

    def claim(self, name: str, owner: str, steal: bool) -> str | None:
        key = f"{PREFIX}name:{name_key(name)}"
        with translate_errors("claim name"):
            if self._client.set(key, owner, nx=True, px=self._expiry_ms):
                return None
            holder = self._client.get(key)
            if holder == owner:
                return None
            if steal:
                self._client.set(key, owner, px=self._expiry_ms)
            return str(holder) if holder else None

    def release(self, name: str, owner: str) -> None:
        key = f"{PREFIX}name:{name_key(name)}"
        with translate_errors("release name"), self._client.pipeline() as pipe:
            try:
                pipe.watch(key)
                if pipe.get(key) == owner:
                    pipe.multi()
                    pipe.delete(key)
                    pipe.execute()
            except redis.WatchError:
                pass

    def refresh(self, sessions: dict[str, JSONDict],
                held: Mapping[str, str] | None = None) -> None:
        with translate_errors("refresh presence"):
            pipe = self._client.pipeline(transaction=False)
            for name, owner in (held or {}).items():
                pipe.set(f"{PREFIX}name:{name_key(name)}", owner, px=self._expiry_ms)
            for owner, info in sessions.items():
                pipe.set(f"{PREFIX}session:{owner}", json.dumps(info), px=self._expiry_ms)
                if info.get("name"):
                    pipe.set(f"{PREFIX}name:{name_key(info['name'])}", owner,
                             px=self._expiry_ms)
            pipe.execute()

    def drop(self, owner: str) -> None:
        with translate_errors("drop session"):
            self._client.delete(f"{PREFIX}session:{owner}")

    def sessions(self) -> list[JSONDict]:
        with translate_errors("list sessions"):
            keys = list(self._client.scan_iter(f"{PREFIX}session:*", count=1000))
            values = self._client.mget(keys) if keys else []
        return [json.loads(v) for v in values if v]

    def owner_of(self, name: str) -> str | None:
        with translate_errors("look up name"):
            value = self._client.get(f"{PREFIX}name:{name_key(name)}")
        return str(value) if value else None


# --------------------------------------------------------------------------- store

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
