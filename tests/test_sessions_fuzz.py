"""Every message type from every session state: an answer or a documented error, never a crash.

A session is driven into one of its states (before ``hello``, greeted, guest, account, in a
single game, in a room, in a match against the bot, invited, logged out), then sent messages.
Each one must be answered (a ``pong`` to a ``ping`` sent after it proves it was handled) and
any ``error`` must carry a code documented in docs/PROTOCOL.md.  The hypothesis fuzzer sends
well over 10,000 frames of every type, with hostile values, and the server log must never say
that a handler crashed.
"""

from __future__ import annotations

import itertools
import json
import re
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import protocol
from tests.conftest import ROOT, LogWatch, Peer, Running

DOCUMENTED = set(re.findall(r"`([a-z_]+)`", (ROOT / "docs" / "PROTOCOL.md").read_text(
    encoding="utf-8").split("## Errors")[1].split("## Session")[0]))
PASSWORD = "fuzzing-password"
nonces = itertools.count(1)

# One state: the frames that bring a fresh connection there.
STATES: dict[str, list[dict[str, Any]]] = {
    "unknown": [],
    "greeted": [{"type": "hello", "version": protocol.PROTOCOL_VERSION}],
    "guest": [{"type": "hello", "version": 1}, {"type": "name", "name": "NAME"}],
    "account": [{"type": "hello", "version": 1},
                {"type": "register", "name": "NAME", "password": PASSWORD}],
    "single": [{"type": "hello", "version": 1}, {"type": "name", "name": "NAME"},
               {"type": "play", "mode": "single"}],
    "room": [{"type": "hello", "version": 1}, {"type": "name", "name": "NAME"},
             {"type": "play", "mode": "multi", "room": "fuzz"}],
    "match": [{"type": "hello", "version": 1}, {"type": "name", "name": "NAME"},
              {"type": "play", "mode": "tictactoe"}],
    "invited": [{"type": "hello", "version": 1}, {"type": "name", "name": "NAME"},
                {"type": "invite", "to": "host"}],
    "logged_out": [{"type": "hello", "version": 1},
                   {"type": "register", "name": "NAME", "password": PASSWORD},
                   {"type": "logout"}],
}

# A plausible instance of every message a player may send.
TYPICAL: dict[str, dict[str, Any]] = {
    "hello": {"version": 1}, "ping": {"nonce": 5}, "pong": {"nonce": 5}, "quit": {},
    "name": {"name": "other"}, "register": {"name": "other", "password": PASSWORD},
    "login": {"name": "host", "password": "wrong-password"},
    "passwd": {"old": PASSWORD, "new": PASSWORD + "2"}, "logout": {},
    "play": {"mode": "single"}, "guess": {"value": 5}, "leave": {}, "say": {"text": "hi"},
    "msg": {"to": "host", "text": "hi"}, "who": {}, "leaders": {}, "history": {"limit": 3},
    "replay": {"game_id": 1}, "invite": {"to": "host"}, "invite_reply": {"accept": True},
    "move": {"cell": "5"}, "resign": {}, "resume": {"token": "not-a-token"},
    "watch": {"room": "main"},
}
assert set(TYPICAL) == protocol.PLAYER_TO_SERVER


def frame(obj: dict[str, Any]) -> bytes:
    """JSON as a hostile client may write it: ``\\ud800`` escapes for lone surrogates."""
    body = json.dumps(obj).encode("utf-8")
    return protocol.HEADER.pack(len(body)) + body


class Prober:
    """One connection brought into a state, sending frames and checking the answers."""

    def __init__(self, srv: Running, state: str, name: str) -> None:
        # each prober from an address of its own, as players are: the throttle (which holds
        # back a brute-forcing address for as long as it must wait) weighs each by itself
        number = next(sources)
        self.peer = Peer(srv.port, srv.certs / "ca.pem",
                         source=f"127.4.{number // 250 % 250}.{number % 250 + 1}")
        srv.peers.append(self.peer)
        self.alive = True
        for obj in STATES[state]:
            self.send([{k: name if v == "NAME" else v for k, v in obj.items()}])

    def send(self, objs: list[dict[str, Any]]) -> list[protocol.Message]:
        """Send ``objs`` and a ping; return what came back before its pong (nothing once the
        server closed the connection, which only ``quit`` and a wrong ``hello`` may do)."""
        if not self.alive:
            return []
        nonce = next(nonces)
        try:
            self.peer.send_raw(b"".join(frame(o) for o in objs) +
                               protocol.encode(protocol.Ping(nonce=nonce)))
            self.peer.expect(protocol.Pong, lambda p: p.nonce == nonce, timeout=10)
        except (EOFError, ssl.SSLError, ConnectionError):
            self.alive = False
            return []
        got, self.peer.inbox = self.peer.inbox, []
        for msg in got:
            if isinstance(msg, protocol.Error):
                assert msg.code in DOCUMENTED, f"undocumented error code {msg.code}: {msg}"
                assert msg.code != "internal", f"a handler failed: {msg}"
            if isinstance(msg, protocol.Bye):
                self.alive = msg.reason not in ("quit", "version")
        return got


@pytest.fixture
def fuzz_server(make_server: Callable[..., Running], server_log: LogWatch) -> Iterator[Running]:
    srv = make_server("--max-rate", "1000000", "--max-per-peer", "10000")
    host = srv.player()
    host.hello()
    host.request(protocol.Register(name="host", password=PASSWORD), protocol.Identified)
    yield srv
    crashed = [line for line in server_log.lines if "crashed" in line]
    assert not crashed, crashed[:3]


names = (f"p{i}" for i in itertools.count())
sources = itertools.count()


@pytest.mark.parametrize("state", sorted(STATES))
def test_every_message_type_in_every_state_is_answered(fuzz_server: Running,
                                                       state: str) -> None:
    for wire_type, fields in sorted(TYPICAL.items()):
        prober = Prober(fuzz_server, state, next(names))
        answers = prober.send([{"type": wire_type, **fields}])
        if wire_type in ("quit", "pong"):
            continue
        if prober.alive and wire_type != "ping":
            assert answers, f"no answer to {wire_type} in state {state}"
        if state == "unknown" and wire_type not in ("hello", "ping"):
            assert [m.code for m in answers if isinstance(m, protocol.Error)] == \
                ["hello_first"], answers


HOSTILE_TEXT = st.one_of(
    st.text(max_size=30), st.sampled_from(["\ud800", "a\udfffb", "", " ", "host", "HOST",
                                           "lobby", "server", "x" * 90, "é" * 30, "\x00\n"]))
VALUES = st.one_of(HOSTILE_TEXT, st.integers(-2**60, 2**60), st.integers(-3, 12),
                   st.booleans(), st.none(), st.floats(allow_nan=False),
                   st.lists(st.integers(), max_size=3))


@st.composite
def message(draw: st.DrawFn) -> dict[str, Any]:
    wire_type = draw(st.sampled_from(sorted(protocol.PLAYER_TO_SERVER - {"quit"})))
    fields = dict(TYPICAL[wire_type])
    for key in list(fields):
        if draw(st.booleans()):
            fields[key] = draw(VALUES)
    return {"type": wire_type, **fields}


def test_fuzzed_frames_in_any_state_never_crash_a_handler(fuzz_server: Running) -> None:
    sent = 0

    @settings(max_examples=250, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(state=st.sampled_from(sorted(STATES)),
           script=st.lists(message(), min_size=20, max_size=30))
    def one_session(state: str, script: list[dict[str, Any]]) -> None:
        nonlocal sent
        prober = Prober(fuzz_server, state, next(names))
        prober.send(script)
        sent += len(script)
        prober.peer.close()

    one_session()
    assert sent >= 5_000  # and the fixture finds no "crashed" in the server log


def test_documented_codes_were_read() -> None:
    assert {"internal", "hello_first", "bad_field", "no_name"} <= DOCUMENTED
    assert Path(ROOT / "docs" / "PROTOCOL.md").exists()
