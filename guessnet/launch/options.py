"""server.py's command line, and the backends it names (embedded, or Redis and memcached)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from guessnet.games.guess import GuessRoom, Rules
from guessnet.net import wakeup
from guessnet.services.composition import Backends
from guessnet.services.hashing import DEFAULT_WORKERS
from guessnet.storage.base import Counters, Store
from guessnet.storage.memory import MemoryBus, MemoryCounters, MemoryPresence, MemoryRoomStore
from guessnet.storage.sqlite import SQLiteStore
from guessnet.support import cpus
from guessnet.support.places import places

PLACES = places()


def port_number(text: str) -> int:
    """An argparse type: a TCP port, 0 (any free port) to 65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (0 to 65535)")
    return value


def rules_of(args: argparse.Namespace) -> Rules:
    """The rules of every round (raises ValueError when they make no sense)."""
    return Rules(args.min, args.max, args.tries, args.round_time or None)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(  # prog: as typed (server.py, or guessnet-server)
        description="guessnet: a TLS multiplayer number-guessing server.")
    net = parser.add_argument_group("network")
    net.add_argument("--host", default="127.0.0.1",
                     help="address of the player port (0.0.0.0 for every interface; "
                          "default %(default)s)")
    net.add_argument("--port", type=port_number, default=4000,
                     help="player port (default %(default)s)")
    net.add_argument("--admin-host", default="127.0.0.1",
                     help="address of the admin port (default %(default)s: this machine only)")
    net.add_argument("--admin-port", type=port_number, default=4001,
                     help="admin port, mutual TLS (default %(default)s)")
    net.add_argument("--web-port", type=port_number, default=4002,
                     help="web port: the scoreboard for a projector, how to join, metrics "
                          "(HTTPS with the same certificates; 0 turns it off; "
                          "default %(default)s)")
    net.add_argument("--web-host", default=None,
                     help="address of the web port (default: the same as --host, so that "
                          "--host 0.0.0.0 lets the class open the join page)")
    net.add_argument("--web-plain", action="store_true",
                     help="serve the web port as plain HTTP, for a browser that does not "
                          "trust the private CA, on a LAN you trust (the page holds nothing "
                          "secret)")
    net.add_argument("--metrics-public", action="store_true",
                     help="serve /metrics to every address, not only to the admin host")
    net.add_argument("--instance-id", default=None,
                     help="name of this process in logs and admin listings (default host:port)")
    scale = parser.add_argument_group("scale-out (several processes serving one game)")
    scale.add_argument("--redis", default=os.environ.get("GUESSNET_REDIS_URL"),
                       metavar="URL", help="redis://host:port/db: message queue, shared rooms, "
                       "presence, accounts and history (env GUESSNET_REDIS_URL)")
    scale.add_argument("--memcached", default=os.environ.get("GUESSNET_MEMCACHED"),
                       metavar="HOST:PORT", help="answer counters (env GUESSNET_MEMCACHED)")
    scale.add_argument("--workers", type=int, default=1, metavar="N",
                       help="N server processes sharing the ports (SO_REUSEPORT) and one game "
                            "through Redis: --redis, or a private redis-server started in the "
                            "data folder (default %(default)s: this process serves alone)")
    scale.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    scale.add_argument("--presence-ttl", type=int, default=30, metavar="SECONDS",
                       help="a crashed process's players vanish from listings within this "
                            "(default %(default)s)")
    speed = parser.add_argument_group("performance (docs/perf/HISTORY.md says why)")
    speed.add_argument("--pin-cpu", type=cpus.setting, default=cpus.AUTO, metavar="CPU",
                       help="run the server's threads on one CPU: auto (the one it started on, "
                            "when it may use several; each worker its own), a CPU number, or "
                            "off (default %(default)s)")
    speed.add_argument("--switch-interval", type=float, default=None, metavar="MS",
                       help="how long a thread may keep the interpreter lock while others "
                            "wait before it must hand it over (default: "
                            f"{cpus.PINNED_SWITCH_MS:g} with the threads on one CPU, else Python's "
                            "own, 5)")
    game = parser.add_argument_group("game")
    game.add_argument("--min", type=int, default=1, help="lowest secret (default %(default)s)")
    game.add_argument("--max", type=int, default=10, help="highest secret (default %(default)s)")
    game.add_argument("--tries", type=int, default=5,
                      help="tries per player per round (default %(default)s)")
    game.add_argument("--word-filter", type=Path, default=None, metavar="FILE",
                      help="refuse names, room names and chat holding a word of FILE (one "
                           "word, or 're:' and a pattern, a line; case, repeated letters and "
                           "digits for letters are seen through) (default: no filter)")
    game.add_argument("--round-time", type=float, default=120.0, metavar="SECONDS",
                      help="a room's round ends for everyone this long after its first guess; "
                           "0 turns it off; single-player games have none "
                           "(default %(default)s)")
    files = parser.add_argument_group("files")
    files.add_argument("--certs", type=Path, default=PLACES.certs,
                       help="certificate folder, created on first run (default: "
                            f"{PLACES.shown(PLACES.certs)})")
    files.add_argument("--cert-name", action="append", default=[], metavar="NAME",
                       help="a name or address players use to reach this server, for its "
                            "certificate (repeatable; with --host 0.0.0.0 every address of "
                            "this machine is included). A certificate missing one is "
                            "reissued by the same CA: the players' ca.pem stays valid")
    files.add_argument("--data-dir", type=Path, default=PLACES.data,
                       help=f"folder of the SQLite database (default: {PLACES.shown(PLACES.data)})")
    files.add_argument("--log-dir", type=Path, default=PLACES.logs,
                       help="folder of server.log and audit.log (default: "
                            f"{PLACES.shown(PLACES.logs)})")
    files.add_argument("-v", "--verbose", action="store_true",
                       help="also log every frame sent and received (RECV/SEND)")
    limits = parser.add_argument_group("limits")
    limits.add_argument("--max-connections", type=int, default=10_000,
                        help="player connections in total (default %(default)s)")
    limits.add_argument("--max-per-peer", type=int, default=200,
                        help="player connections per peer address (default %(default)s)")
    limits.add_argument("--hello-timeout", type=float, default=None,
                        help="seconds a new connection has to start its TLS handshake (send "
                             "its ClientHello) (default 3, at most --handshake-timeout)")
    limits.add_argument("--handshake-timeout", type=float, default=5.0,
                        help="seconds from accept to complete the TLS handshake "
                             "(default %(default)s)")
    limits.add_argument("--max-handshakes", type=int, default=64,
                        help="TLS handshakes in progress at once per port, like OpenSSH's "
                             "MaxStartups; when they are all taken a stalled one is shed for "
                             "a newcomer, or the newcomer waits for a slot "
                             "(default %(default)s)")
    limits.add_argument("--max-handshakes-per-peer", type=int, default=8,
                        help="TLS handshakes in progress at once per port from one address "
                             "(an IPv6 /64 counts as one) (default %(default)s)")
    limits.add_argument("--frame-timeout", type=float, default=10.0,
                        help="seconds to receive a whole frame once it began "
                             "(default %(default)s)")
    limits.add_argument("--idle-timeout", type=float, default=120.0,
                        help="seconds a connection may stay without a name (default %(default)s)")
    limits.add_argument("--max-rate", type=float, default=50.0,
                        help="messages a second per connection, bursts of twice that; more "
                             "are refused, and a flood disconnects (default %(default)s)")
    limits.add_argument("--outbox-kb", type=int, default=512,
                        help="KiB queued for a client that does not read before it is "
                             "disconnected (default %(default)s)")
    limits.add_argument("--resume-grace", type=float, default=30.0,
                        help="seconds a dropped player's seat is held for them to come back "
                             "(default %(default)s)")
    limits.add_argument("--wakeup", choices=sorted(wakeup.IMPLEMENTATIONS),
                        default=os.environ.get(wakeup.ENVIRONMENT, wakeup.DEFAULT),
                        help="how threads wake a connection's thread: gil-holding (measured "
                             "faster for large rooms) or portable (env GUESSNET_WAKEUP; "
                             "default %(default)s)")
    limits.add_argument("--hash-workers", type=int, default=DEFAULT_WORKERS,
                        help="password hashes (scrypt, 16 MiB each) computed at once; more "
                             "wait their turn (default: the number of cores, %(default)s)")
    limits.add_argument("--heartbeat", type=float, default=10.0,
                        help="seconds of silence before a ping (a client that talks is "
                             "pinged once a minute); 3 silent intervals drop the client "
                             "(default %(default)s)")
    tools = parser.add_argument_group("tools (the server is not started)")
    tools.add_argument("--replay", nargs="?", const=0, type=int, metavar="ID",
                       help="list the stored games, or replay game ID move by move")
    tools.add_argument("--issue-admin-cert", metavar="NAME",
                       help="write certs/admin-NAME.pem and .key for an admin on another host")
    args = parser.parse_args(argv)
    if args.round_time < 0 or args.round_time != args.round_time:
        parser.error(f"--round-time must be 0 (off) or positive, not {args.round_time}")
    try:
        rules_of(args)
    except ValueError as exc:
        parser.error(str(exc))
    ports = [("--port", args.port), ("--admin-port", args.admin_port),
             ("--web-port", args.web_port)]
    for i, (first, number) in enumerate(ports):
        for second, other in ports[i + 1:]:
            if number == other != 0:
                parser.error(f"{first} and {second} are both {number}: each listener needs "
                             "its own port")
    if args.workers < 1:
        parser.error(f"--workers must be at least 1, not {args.workers}")
    if args.workers > 1 and isinstance(args.pin_cpu, int):
        parser.error(f"--pin-cpu {args.pin_cpu} with --workers {args.workers} would put every "
                     "worker on one CPU: leave --pin-cpu auto (each worker its own) or off")
    if args.switch_interval is not None and not 0.1 <= args.switch_interval <= 1000:
        parser.error(f"--switch-interval must be 0.1 to 1000 milliseconds, not "
                     f"{args.switch_interval:g}")
    for flag in ("max_handshakes", "max_handshakes_per_peer"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} must be at least 1, not "
                         f"{getattr(args, flag)}")
    if args.hello_timeout is None:
        args.hello_timeout = min(3.0, args.handshake_timeout)
    if not 0 < args.hello_timeout <= args.handshake_timeout:
        parser.error(f"--hello-timeout must be positive and at most --handshake-timeout "
                     f"({args.handshake_timeout:g}), not {args.hello_timeout:g}")
    if args.hash_workers < 1:
        parser.error(f"--hash-workers must be at least 1, not {args.hash_workers}")
    if args.web_host is None:
        args.web_host = args.host
    return args


def open_backends(args: argparse.Namespace) -> Backends:
    """Embedded backends, or Redis/memcached when asked (raises BackendError if unreachable)."""
    counters: Counters = MemoryCounters()
    if args.memcached:
        from guessnet.storage.memcached_backend import MemcachedCounters
        counters = MemcachedCounters(args.memcached)
    if not args.redis:
        bus = MemoryBus()
        return Backends(store=SQLiteStore(args.data_dir / "guessnet.sqlite3"),
                        rooms=MemoryRoomStore(bus, GuessRoom.from_dict), bus=bus, counters=counters,
                        presence=MemoryPresence(args.presence_ttl))
    from guessnet.storage import redis_backend, redis_store
    client = redis_backend.connect(args.redis)
    if not args.memcached:  # several processes: one count for all of them
        from guessnet.storage.redis_counters import RedisCounters
        counters = RedisCounters(client)
    return Backends(store=redis_store.RedisStore(client),
                    chatlog=redis_backend.RedisChatLog(client),
                    rooms=redis_backend.RedisRoomStore(client, GuessRoom.from_dict),
                    bus=redis_backend.RedisBus(client), counters=counters,
                    presence=redis_backend.RedisPresence(client, args.presence_ttl))


def open_store(args: argparse.Namespace) -> Store:
    """Only the durable store (``--replay``): no bus, no threads."""
    if not args.redis:
        return SQLiteStore(args.data_dir / "guessnet.sqlite3")
    from guessnet.storage import redis_backend, redis_store
    return redis_store.RedisStore(redis_backend.connect(args.redis))
