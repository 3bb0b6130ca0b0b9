"""Redis backends: the message queue (pub/sub), shared rooms and presence; the connection.

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
* ``RedisStore`` (``guessnet.storage.redis_store``): accounts, games and leaderboards.

Every Redis failure is turned into ``BackendError`` in ``translate_errors`` and nowhere else.
Short socket timeouts keep a dead Redis from freezing a handler for long.
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import redis

from guessnet.storage.base import (
    BackendError,
    Bus,
    ChatLog,
    Handler,
    JSONDict,
    Presence,
    R,
    RoomStore,
    T,
    Transition,
    name_key,
    room_channel,
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

class RedisRoomStore(RoomStore[R]):
    def __init__(self, client: redis.Redis, load: Callable[[JSONDict], R]) -> None:
        self._client = client
        self._load = load

    def transact(self, name: str, create: Callable[[], R],
                 change: Callable[[R], Transition[T]]) -> T:
        key = f"{PREFIX}room:{name}"
        with translate_errors(f"room {name}"):
            while True:
                with self._client.pipeline() as pipe:
                    try:
                        pipe.watch(key)
                        raw = pipe.get(key)
                        room = self._load(json.loads(raw)) if raw else create()
                        outcome = change(room)
                        pipe.multi()
                        if not room.vacant:
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

    def rooms(self, skipped: Callable[[str, Exception], None] | None = None) -> Iterator[R]:
        with translate_errors("list rooms"):
            keys = sorted(self._client.scan_iter(f"{PREFIX}room:*", count=500))
            values = self._client.mget(keys) if keys else []
        for key, raw in zip(keys, values, strict=True):
            if not raw:
                continue
            try:
                room = self._load(json.loads(raw))
            except Exception as exc:
                if skipped is not None:
                    skipped(str(key).removeprefix(f"{PREFIX}room:"), exc)
                continue
            yield room


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

    def hold_seat(self, token_hash: str, instance: str, seconds: float) -> None:
        with translate_errors("hold seat"):
            self._client.set(f"{PREFIX}seat:{token_hash}", instance,
                             px=max(1, round(seconds * 1000)))

    def seat_holder(self, token_hash: str) -> str | None:
        with translate_errors("look up seat"):
            value = self._client.get(f"{PREFIX}seat:{token_hash}")
        return str(value) if value else None


# --------------------------------------------------------------------------- chat log

CHAT_KEEP = 86_400  # seconds a channel's last lines outlive its last line


class RedisChatLog(ChatLog):
    """The last lines of each channel, for every process: a capped list per channel."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client

    def add(self, channel: str, line: JSONDict) -> None:
        key = f"{PREFIX}chat:{channel}"
        with translate_errors("chat log"), self._client.pipeline(transaction=False) as pipe:
            pipe.rpush(key, json.dumps(line, separators=(",", ":")))
            pipe.ltrim(key, -self.LINES, -1)
            pipe.expire(key, CHAT_KEEP)  # a room gone quiet for a day leaves nothing behind
            pipe.execute()

    def recent(self, channel: str) -> list[JSONDict]:
        with translate_errors("chat log"):
            raws = self._client.lrange(f"{PREFIX}chat:{channel}", 0, -1)
        return [json.loads(raw) for raw in raws]
