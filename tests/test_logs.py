"""The server's log file: its line format, rotation by size, and a disk that refuses writes."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guessnet.support import logs
from guessnet.wire.redaction import SECRET_KEYS, redact

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


def test_noise_is_summarised_and_the_audit_log_keeps_security_events(log_to: Path) -> None:
    logs.setup(log_to, verbose=False)
    logs.audit("AUTH", "10.0.0.9:4242 login as owner failed")
    for i in range(1000):
        logs.noisy("protocol error 10.6.6.6", "ERROR", f"10.6.6.6:{i} protocol error bad_json")
    logs.noisy("protocol error 10.7.7.7", "ERROR", "10.7.7.7:1 protocol error bad_json")
    logs._noise.sweep(time.monotonic() + logs.NOISE_WINDOW)  # the window ends
    logs.flush()
    server = log_to.read_text(encoding="utf-8").splitlines()
    errors = [line for line in server if "10.6.6.6" in line]
    assert len(errors) == logs.NOISE_BURST + 1, errors  # five lines, then one summary
    assert f"{1000 - logs.NOISE_BURST} more lines like this one left out" in errors[-1]
    assert any("10.7.7.7" in line for line in server)  # another address has its own lines
    audit = (log_to.parent / "audit.log").read_text(encoding="utf-8").splitlines()
    assert len(audit) == 1 and "login as owner failed" in audit[0]
    assert "login as owner failed" in server[0]  # also in order in the server's log


SECRET = st.text(alphabet="qwxzj", min_size=12, max_size=16)


def secret_key(draw: st.DrawFn) -> str:
    key = draw(st.sampled_from(sorted(SECRET_KEYS)))
    return "".join(c.upper() if draw(st.booleans()) else c for c in key)


def as_json_key(draw: st.DrawFn, key: str) -> str:
    """``key`` as JSON, some of its characters written as ``\\uXXXX`` escapes."""
    return '"' + "".join(f"\\u{ord(c):04x}" if draw(st.booleans()) else c for c in key) + '"'


@st.composite
def frames_with_secrets(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A JSON frame with secrets under secret keys at any depth, in any case, under escaped
    and duplicate keys, as strings, lists and objects; and the secrets."""
    secrets: list[str] = []

    def value(depth: int) -> str:
        kind = draw(st.sampled_from(["text", "number", "list", "object"][:2 + (depth < 3) * 2]))
        if kind == "text":
            return json.dumps(draw(st.text(alphabet="abc d", max_size=8)))
        if kind == "number":
            return str(draw(st.integers(0, 999)))
        if kind == "list":
            return "[" + ",".join(value(depth + 1) for _ in range(draw(st.integers(0, 3)))) + "]"
        return obj(depth + 1)

    def secret_value(depth: int) -> str:
        shape = draw(st.sampled_from(["text", "list", "object"]))
        found = draw(st.lists(SECRET, min_size=1, max_size=1 if shape == "text" else 3))
        secrets.extend(found)
        if shape == "text":
            return json.dumps(found[0])
        if shape == "list":
            return json.dumps(found)
        return "{" + ",".join(f'"k{i}":{json.dumps(s)}' for i, s in enumerate(found)) + "}"

    def obj(depth: int) -> str:
        pairs = []
        for _ in range(draw(st.integers(0, 4))):
            if draw(st.booleans()):
                key = secret_key(draw)
                pairs.append(f"{as_json_key(draw, key)}:{secret_value(depth)}")
                if draw(st.booleans()):  # the same key again: both are secrets
                    pairs.append(f"{as_json_key(draw, key)}:{secret_value(depth)}")
            else:
                pairs.append(f"{json.dumps(draw(st.text(alphabet='abt', max_size=6)))}:"
                             f"{value(depth)}")
        return "{" + ",".join(pairs) + "}"

    return obj(0), secrets


@settings(max_examples=300, deadline=None)
@given(frames_with_secrets())
def test_redaction_leaves_no_secret_in_a_logged_frame(frame: tuple[str, list[str]]) -> None:
    text, secrets = frame
    redacted = redact(text)
    json.loads(redacted)  # still a JSON frame to read
    for secret in secrets:
        assert secret not in redacted, (text, redacted)
        assert secret not in logs.escape(redact(text[:-1]), 2000)  # not JSON: never shown


def test_a_frame_that_is_not_json_is_shown_by_its_size_only() -> None:
    assert redact('{"password": "hunter22"') == "<23 bytes that are not JSON, not shown>"
    assert redact('{"Password": ["a", {"b": "c"}], "x": 1}') == '{"Password":"***","x":1}'
