"""``--pin-cpu``: the server's threads on one CPU, password hashing on the others; and the
process's other settings for serving (the switch interval, the cyclic collector)."""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import protocol
from bench.launch import PY
from guessnet.launch import options, serve, workers
from guessnet.support import cpus
from tests.conftest import ROOT
from tests.procs import ServerProcess

USABLE = cpus.usable()
SEVERAL = pytest.mark.skipif(len(USABLE) < 2, reason="this machine lets the tests use one "
                             "CPU only: there is nothing to pin to")


def test_the_setting_is_auto_off_or_a_number() -> None:
    assert cpus.setting("auto") == cpus.AUTO and cpus.setting("off") == cpus.OFF
    assert cpus.setting("3") == 3
    for bad in ("", "-1", "one", "1.5"):
        with pytest.raises(argparse.ArgumentTypeError, match="auto, off or a CPU number"):
            cpus.setting(bad)
    assert options.parse_args([]).pin_cpu == cpus.AUTO


def test_auto_stays_where_the_kernel_started_the_process() -> None:
    four = frozenset({0, 1, 2, 3})
    assert cpus.choose(cpus.AUTO, four, 2) == 2
    assert cpus.choose(cpus.AUTO, four, None) == 3  # unknown: the last
    assert cpus.choose(cpus.AUTO, frozenset({0, 2}), 1) == 2  # (moved off since: not ours)
    assert cpus.choose(cpus.AUTO, frozenset({5}), 5) is None  # one CPU: nothing to gain
    assert cpus.choose(cpus.AUTO, frozenset(), None) is None  # the platform cannot pin
    assert cpus.choose(cpus.OFF, four, 2) is None
    assert cpus.choose(1, four, 2) == 1
    with pytest.raises(cpus.PinError, match=r"may run on CPUs 0-3 only"):
        cpus.choose(7, four, 2)


def test_workers_each_get_their_own_cpu_in_turn() -> None:
    two = frozenset({0, 1})
    assert [cpus.worker_cpu(i, two) for i in (1, 2, 3)] == [0, 1, 0]
    assert cpus.worker_cpu(1, frozenset({4})) is None
    assert workers.pinned(cpus.OFF, 1) == ["--pin-cpu", "off"]
    got = workers.pinned(cpus.AUTO, 1)
    assert got == ["--pin-cpu", str(min(USABLE)) if len(USABLE) > 1 else "auto"]
    assert cpus.describe(frozenset({0, 1, 2})) == "0-2"
    assert cpus.describe(frozenset({0, 2, 5})) == "0,2,5"


def allowed(pid: int) -> dict[int, str]:
    """Every thread of ``pid``: the CPUs it may run on, as the kernel lists them."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with (task / "status").open() as status:
            for line in status:
                if line.startswith("Cpus_allowed_list:"):
                    found[int(task.name)] = line.split(":", 1)[1].strip()
    return found


@SEVERAL
def test_the_server_keeps_its_threads_on_one_cpu_and_hashes_on_the_others(
        tmp_path: Path, certs: Path) -> None:
    server = ServerProcess(tmp_path, certs).start()
    try:
        peer = server.peer()
        peer.hello()
        peer.request(protocol.Register(name="Ann", password="correct-horse-battery"),
                     protocol.Identified)  # a scrypt hash: a hashing thread started
        threads = allowed(server.pid)
        (text, _count), = collections.Counter(threads.values()).most_common(1)
        cpu = int(text)  # the game's threads: one CPU, the same for all
        rest = [mask for mask in threads.values() if mask != text]
        assert rest == [cpus.describe(USABLE - {cpu})], threads  # the hashing thread's
        log = (tmp_path / "logs" / "server.log").read_text()
        assert f"threads on CPU {cpu}, switch interval 50 ms" in log
        peer.close()
    finally:
        server.stop()


@SEVERAL
def test_off_leaves_the_threads_free(tmp_path: Path, certs: Path) -> None:
    server = ServerProcess(tmp_path, certs, "--pin-cpu", "off").start()
    try:
        assert set(allowed(server.pid).values()) == {cpus.describe(USABLE)}
    finally:
        server.stop()
    log = (tmp_path / "logs" / "server.log").read_text()
    assert "threads on any CPU, switch interval 5 ms" in log  # (Python's own)


def test_the_switch_interval_can_be_set(tmp_path: Path, certs: Path) -> None:
    server = ServerProcess(tmp_path, certs, "--pin-cpu", "off", "--switch-interval", "20")
    assert server.start().stop() == 0  # (a SIGTERM as soon as the banner is out: a clean stop)
    assert "switch interval 20 ms" in (tmp_path / "logs" / "server.log").read_text()


def test_the_server_settles_the_cyclic_collector_once_started(tmp_path: Path,
                                                               certs: Path) -> None:
    server = ServerProcess(tmp_path, certs, "--pin-cpu", "off")
    assert server.start().stop() == 0
    found = re.search(r"a young collection every ([\d,]+) allocations \(([\d,]+) objects frozen\)",
                      (tmp_path / "logs" / "server.log").read_text())
    assert found, "the listening line names the collector's settings"
    assert int(found.group(1).replace(",", "")) == serve.YOUNG_COLLECTION > 700
    assert int(found.group(2).replace(",", "")) > 10_000  # start-up's objects, out of its way


@SEVERAL
def test_a_named_cpu_is_used(tmp_path: Path, certs: Path) -> None:
    cpu = max(USABLE)
    server = ServerProcess(tmp_path, certs, "--pin-cpu", str(cpu)).start()
    try:
        assert set(allowed(server.pid).values()) == {str(cpu)}
    finally:
        server.stop()


def run_server(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PY, str(ROOT / "server.py"), "--port", "0", "--admin-port", "0", "--web-port", "0",
         "--data-dir", str(tmp_path / "data"), "--log-dir", str(tmp_path / "logs"), *extra],
        capture_output=True, text=True, cwd=ROOT, timeout=60, stdin=subprocess.DEVNULL)


def test_a_cpu_the_process_may_not_use_is_refused_clearly(tmp_path: Path, certs: Path) -> None:
    done = run_server(tmp_path, "--certs", str(certs), "--pin-cpu", str(os.cpu_count() or 1))
    if not USABLE:  # (no affinity on this platform: nothing to refuse)
        return
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"may run on CPUs {cpus.describe(USABLE)} only" in done.stderr


def test_bad_values_are_refused_by_the_command_line(tmp_path: Path) -> None:
    done = run_server(tmp_path, "--pin-cpu", "fast")
    assert done.returncode == 2 and "'fast' is not auto, off or a CPU number" in done.stderr
    done = run_server(tmp_path, "--pin-cpu", "1", "--workers", "2")
    assert done.returncode == 2 and "would put every worker on one CPU" in done.stderr
    for bad in ("0", "5000", "nan"):
        done = run_server(tmp_path, "--switch-interval", bad)
        assert done.returncode == 2 and "--switch-interval must be 0.1 to 1000" in done.stderr


def test_the_switch_interval_follows_the_placement_unless_asked() -> None:
    before = sys.getswitchinterval()
    try:
        cpus.set_switch_interval(False)
        assert sys.getswitchinterval() == before  # free threads: Python's own stays
        cpus.set_switch_interval(True)
        assert sys.getswitchinterval() == pytest.approx(cpus.PINNED_SWITCH_MS / 1000)
        cpus.set_switch_interval(True, 20)
        assert sys.getswitchinterval() == pytest.approx(0.020)
    finally:
        sys.setswitchinterval(before)
