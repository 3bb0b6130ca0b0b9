"""``guessnet-server`` (and ``python server.py``): the server program's command line.

    guessnet-server                        # players on 127.0.0.1:4000, admin on 127.0.0.1:4001
    guessnet-server --host 0.0.0.0         # players from the LAN (admin stays on 127.0.0.1)
    guessnet-server --replay [ID]          # list or replay stored games, server not started
    guessnet-server --issue-admin-cert bob # certificate for an admin on another machine
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import signal
import sys
import threading
from types import FrameType

from guessnet.client.render import render_table
from guessnet.launch import certificates, workers
from guessnet.launch.options import open_backends, open_store, parse_args
from guessnet.launch.startup import StartError, start, stop
from guessnet.net import tlsconf
from guessnet.services.errors import Refused
from guessnet.services.history import send_history, send_replay
from guessnet.storage.base import BackendError
from guessnet.support import cpus, logs
from guessnet.support.folders import FolderError, private_folder, private_umask
from guessnet.support.logs import log


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


YOUNG_COLLECTION = 10_000  # allocations between young collections (CPython's default: 700)


def settle_collector() -> None:
    """Set the cyclic collector up for serving (once started).

    What exists now (modules, services, caches) lives as long as the process: frozen out of
    the collector's way, a full collection walks only what players brought.  And the young
    collections come every ``YOUNG_COLLECTION`` allocations, not 700: each one promotes the
    objects then in flight on every handler thread, and once those add up to a quarter of the
    old ones a full collection walks them all, holding the interpreter lock (at 5,000 players
    one every few seconds, 76-180 ms each; docs/perf/HISTORY.md, eleventh pass)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION, *gc.get_threshold()[1:])


def print_replay(args: argparse.Namespace) -> int:
    try:
        store = open_store(args)
    except BackendError as exc:
        print(f"cannot open storage: {exc}", file=sys.stderr)
        return 1

    def show(title: str, columns: list[str], rows: list[list[object]]) -> None:
        print(render_table(title, columns, rows))

    try:
        if args.replay:
            send_replay(show, store, args.replay)
        else:
            send_history(show, store, 20, None)
    except Refused as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        store.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.workers > 1 and args.replay is None and not args.issue_admin_cert:
        return workers.run(args, argv)
    if args.replay is not None:
        return print_replay(args)
    if args.issue_admin_cert:
        name = args.issue_admin_cert
        certificates.ensure_certs(args.certs, [args.host, *args.cert_name])
        cert, key = args.certs / f"admin-{name}.pem", args.certs / f"admin-{name}.key"
        certificates.issue_client_cert(args.certs, name, tlsconf.ADMIN_ROLE, cert, key)
        print(f"wrote {cert} and {key}: copy them with {args.certs / 'ca.pem'} to the admin's "
              f"machine and run: python aclient.py --cert admin-{name}.pem "
              f"--key admin-{name}.key --cafile ca.pem --host SERVER")
        return 0
    private_umask()
    try:
        logs.setup(private_folder(args.log_dir, "log folder", "--log-dir") / "server.log",
                   args.verbose)
        # the SQLite database, or the journal beside Redis
        private_folder(args.data_dir, "data folder", "--data-dir")
    except FolderError as exc:
        print(exc, file=sys.stderr)
        return 1
    raise_fd_limit()
    try:  # before the services start their threads (which then inherit the CPU)
        placement = cpus.pin(args.pin_cpu)
    except cpus.PinError as exc:
        print(exc, file=sys.stderr)
        return 1
    cpus.set_switch_interval(placement is not None, args.switch_interval)
    try:
        backends = open_backends(args)
    except BackendError as exc:
        print(f"cannot start: {exc}", file=sys.stderr)
        return 1
    try:
        runtime = start(args, backends)
    except StartError as exc:
        print(exc, file=sys.stderr)
        backends.close()
        return 1
    settle_collector()
    # Stopping politely from here on: before the banner, which scripts wait for to signal
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stopping.is_set():
            print("\nforced exit", file=sys.stderr, flush=True)
            os._exit(1)
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    games = backends.store.count_games()
    line = (f"guessnet listening: players on {args.host}:{runtime.player_port} (TLS), "
            f"admin on {args.admin_host}:{runtime.admin_port} (TLS)")
    if runtime.web_port is not None:
        scheme = "http" if args.web_plain else "https"
        line += f", scoreboard on {scheme}://{args.web_host}:{runtime.web_port}/"
        if args.web_plain:
            print("warning: --web-plain serves the web port without TLS: anyone on the "
                  "network can read or alter the page (it holds nothing secret)",
                  file=sys.stderr, flush=True)
    print(line, flush=True)
    print(f"{games} games on record; certificates in {args.certs}; data in {args.data_dir}; "
          f"logs in {args.log_dir}. Ctrl-C stops.", flush=True)
    log("CONNECTION", line + f"; {games} games on record; " + (
        f"threads on CPU {placement.cpu}" if placement else "threads on any CPU") +
        f", switch interval {sys.getswitchinterval() * 1000:g} ms, a young collection every "
        f"{gc.get_threshold()[0]:,} allocations ({gc.get_freeze_count():,} objects frozen)")
    names = ", ".join(str(n.value) for n in certificates.certificate_names(
        tlsconf.CertPaths(args.certs).server))
    print(f"Players connect to one of the names the certificate carries: {names} "
          "(--cert-name adds one).", flush=True)

    while not stopping.wait(1.0):
        pass
    print("shutting down: telling clients...", flush=True)
    stop(runtime)
    backends.close()
    log("CONNECTION", "server stopped")
    print("stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
