"""``server.py --workers N``: one host, every core.

N server processes share the player, admin and web ports (``SO_REUSEPORT``: the kernel spreads
new connections over them) and play one game through Redis, exactly as processes on several
hosts do: the given ``--redis``, or a private ``redis-server`` this process starts on a unix
socket in the data folder (append-only file on, so accounts and history survive) and stops.

This process only supervises: it reserves the ports (bound, never listening, so the kernel
hands it no connection), starts the workers (``server.py`` with the same options, plus
``--redis``, ``--reuse-port`` and the ports), prints one banner once every worker listens,
starts a worker again if one dies, and on Ctrl-C or SIGTERM stops them all, then Redis.
Worker N keeps its log in ``LOG_DIR/worker-N/`` and its journal (games waiting for a store
that failed) in ``DATA_DIR/worker-N/``: files are never shared between processes.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from guessnet.launch import certificates
from guessnet.support import cpus

SERVER = Path(__file__).resolve().parents[2] / "server.py"
START_TIMEOUT = 30.0
RESTART_DELAY = 1.0


class PrivateRedis:
    """``redis-server`` on a unix socket in ``folder``, persistence on, for this host only."""

    def __init__(self, binary: str, folder: Path) -> None:
        self.socket = folder / "redis.sock"
        self.proc = subprocess.Popen(  # noqa: S603 (redis-server from PATH, our arguments)
            [binary, "--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700",
             "--dir", str(folder), "--appendonly", "yes", "--appendfsync", "everysec",
             "--save", "", "--maxmemory-policy", "noeviction"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    @property
    def url(self) -> str:
        return f"unix://{self.socket}?db=0"

    def wait_ready(self) -> None:
        import redis
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}")
            try:
                client = redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1)
                client.ping()
                client.close()
                return
            except (redis.RedisError, OSError):
                time.sleep(0.05)
        raise RuntimeError("redis-server did not answer in time")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # it writes its append-only file and exits
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def reserve(host: str, port: int) -> socket.socket:
    """A bound, never listening socket on ``host:port`` (any free port for 0) that holds the
    port number for the workers: with SO_REUSEPORT they bind it too."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def worker_argv(argv: list[str], extra: list[str]) -> list[str]:
    """``argv`` without ``--workers N`` (its values), then ``extra`` (later options win)."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == "--workers":
            skip = True
            continue
        if arg.startswith("--workers="):
            continue
        out.append(arg)
    return out + extra


class Worker:
    """One worker process and the thread that relays its output to the log."""

    def __init__(self, index: int, argv: list[str], announced: threading.Event) -> None:
        self.index, self.argv = index, argv
        self.proc: subprocess.Popen[str] | None = None
        self.banner = threading.Event()
        self.announced = announced  # the supervisor's banner is out: relay lines at once
        self.early: list[str] = []  # lines before that (shown if the worker fails to start)

    def start(self) -> None:
        self.banner.clear()
        self.proc = subprocess.Popen(  # noqa: S603 (this Python, server.py, the host's options)
            [sys.executable, str(SERVER), *self.argv],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        threading.Thread(target=self._relay, args=(self.proc,), daemon=True,
                         name=f"worker-{self.index}").start()

    def _relay(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("guessnet listening"):
                self.banner.set()
            elif not line.strip():
                continue
            elif self.announced.is_set():
                print(f"[worker {self.index}] {line.rstrip()}", flush=True)
            else:  # the supervisor's banner must be its first line (scripts read it)
                self.early.append(line.rstrip())
        proc.stdout.close()

    def exited(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)


def run(args: argparse.Namespace, argv: list[str]) -> int:
    """Supervise ``args.workers`` server processes (see the module docstring)."""
    private: PrivateRedis | None = None
    url = args.redis
    if not url:
        binary = shutil.which("redis-server")
        if binary is None:
            print("--workers needs Redis to share the game between processes: install "
                  "redis-server (apt-get install redis-server), or pass --redis URL",
                  file=sys.stderr)
            return 1
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:  # redis-server sizes its client limit by the descriptors it may open
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        folder = args.data_dir
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        private = PrivateRedis(binary, folder)
    try:
        # made once, here: workers making them at the same time would each write half a CA
        certificates.ensure_certs(args.certs, [args.host, *args.cert_name])
        if private is not None:
            private.wait_ready()
            url = private.url
        return supervise(args, argv, url)
    except (OSError, RuntimeError) as exc:
        print(f"cannot start the workers: {exc}", file=sys.stderr)
        return 1
    finally:
        if private is not None:
            private.stop()


def pinned(wanted: cpus.Setting, index: int) -> list[str]:
    """Worker ``index``'s ``--pin-cpu``: with ``auto``, each worker its own CPU in turn."""
    cpu = cpus.worker_cpu(index, cpus.usable()) if wanted == cpus.AUTO else None
    return ["--pin-cpu", str(wanted if cpu is None else cpu)]


def supervise(args: argparse.Namespace, argv: list[str], url: str) -> int:
    wanted = [(args.host, args.port), (args.admin_host, args.admin_port)]
    if args.web_port:
        wanted.append((args.web_host, args.web_port))
    try:
        held = [reserve(host, port) for host, port in wanted]
    except OSError as exc:
        raise RuntimeError(f"cannot reserve the ports: {exc.strerror or exc}") from exc
    ports = [sock.getsockname()[1] for sock in held]
    announced = threading.Event()
    base = args.instance_id or f"{socket.gethostname()}:{ports[0]}"
    workers = [Worker(i, worker_argv(argv, [
        "--redis", url, "--reuse-port", "--port", str(ports[0]), "--admin-port", str(ports[1]),
        "--web-port", str(ports[2] if args.web_port else 0), "--instance-id", f"{base}/w{i}",
        "--log-dir", str(args.log_dir / f"worker-{i}"),
        "--data-dir", str(args.data_dir / f"worker-{i}"), *pinned(args.pin_cpu, i)]),
        announced) for i in range(1, args.workers + 1)]
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        for worker in workers:
            worker.start()
        deadline = time.monotonic() + START_TIMEOUT
        for worker in workers:
            while not worker.banner.wait(0.1):
                if worker.exited() or stopping.is_set() or time.monotonic() > deadline:
                    for line in worker.early[-20:]:
                        print(f"[worker {worker.index}] {line}", file=sys.stderr)
                    raise RuntimeError(f"worker {worker.index} did not start (its last lines "
                                       "are above)")
        line = (f"guessnet listening: players on {args.host}:{ports[0]} (TLS), admin on "
                f"{args.admin_host}:{ports[1]} (TLS)")
        if args.web_port:
            scheme = "http" if args.web_plain else "https"
            line += f", scoreboard on {scheme}://{args.web_host}:{ports[2]}/"
        print(f"{line}; {args.workers} workers sharing them through Redis", flush=True)
        print(f"Redis: {url if args.redis else 'private, in ' + str(args.data_dir)}; each "
              f"worker logs in {args.log_dir}/worker-N/. Ctrl-C stops.", flush=True)
        announced.set()
        while not stopping.wait(0.5):
            for worker in workers:
                if worker.exited():
                    assert worker.proc is not None
                    print(f"worker {worker.index} stopped ({worker.proc.returncode}): "
                          "starting it again", file=sys.stderr, flush=True)
                    time.sleep(RESTART_DELAY)
                    worker.start()
        print("shutting down: stopping the workers...", flush=True)
        return 0
    finally:
        for worker in workers:
            worker.stop()
        for worker in workers:
            if worker.proc is not None:
                try:
                    worker.proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    worker.proc.kill()
                    worker.proc.wait()
        for sock in held:
            sock.close()
