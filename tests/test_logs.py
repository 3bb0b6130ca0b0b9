"""The server's log file: its line format, rotation by size, and a disk that refuses writes."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from guessnet import logs

LINE = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] \[([A-Z]+)\] (.*)$")


@pytest.fixture
def log_to(tmp_path: Path) -> Iterator[Path]:
    """Where the test logs; afterwards the logger writes to a fresh file again."""
    yield tmp_path / "server.log"
    logs.setup(tmp_path / "after" / "server.log", verbose=False)


def test_lines_are_written_in_order_in_the_documented_format(log_to: Path) -> None:
    logs.setup(log_to, verbose=False)
    for i in range(500):
        logs.log("GAME", f"round {i} ended")
    logs.log("CONNECTION", logs.escape("évé\nFAKE"))
    logs.flush()
    lines = log_to.read_text(encoding="utf-8").splitlines()
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), lines[:3]
    assert [m.group(2) for m in parsed if m] == \
        [f"round {i} ended" for i in range(500)] + ["évé\\nFAKE"]
    assert [m.group(1) for m in parsed if m][-2:] == ["GAME", "CONNECTION"]


def test_rotation_keeps_whole_lines_and_the_newest_files(log_to: Path) -> None:
    logs.setup(log_to, verbose=False, max_bytes=2_000, backups=2)
    sent = [f"line {i:04d} " + "x" * 30 for i in range(300)]
    for text in sent:
        logs.log("GAME", text)
    logs.flush()
    files = [log_to.with_name("server.log.2"), log_to.with_name("server.log.1"), log_to]
    assert all(f.exists() for f in files)
    assert not log_to.with_name("server.log.3").exists()
    kept: list[str] = []
    for f in files:
        assert 0 < f.stat().st_size <= 2_000
        kept += f.read_text(encoding="utf-8").splitlines()
    texts = [m.group(2) for m in map(LINE.match, kept) if m]
    assert len(texts) == len(kept)  # no line split across files
    assert texts == sent[-len(texts):]  # the newest lines, none missing in between
    assert len(texts) > 60  # three files of up to 2,000 bytes, 70-byte lines


def test_a_disk_that_refuses_writes_costs_lines_not_the_server(
        log_to: Path, capfd: pytest.CaptureFixture[str]) -> None:
    full = Path("/dev/full")  # every write fails with "No space left on device"
    if not full.exists():
        pytest.fail("this test needs /dev/full (Linux)")
    logs.setup(full, verbose=False)
    for i in range(50):
        logs.log("GAME", f"round {i} ended")
    logs.flush()
    logs.log("GAME", "one more")
    logs.flush()  # returns: the writer thread lives on
    err = capfd.readouterr().err
    assert err.count("log lines lost") == 1, err  # one line per failing spell, no traceback
    assert "No space left on device" in err and "Traceback" not in err


def test_clock_text_is_the_local_time_of_its_second() -> None:
    for at in (0.0, 1.999, 1_700_000_000.5, 1_800_000_000.25):
        assert logs.clock_text(at) == time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))
