"""Chat: rooms and the lobby, direct messages, size limit, control characters, flood control."""

from __future__ import annotations

import json
import subprocess
import sys

import protocol
from tests.conftest import ROOT, Running


def test_room_chat_reaches_members_only(srv: Running) -> None:
    admin = srv.admin()
    ann, bob, cy = srv.player("ann"), srv.player("bob"), srv.player("cy")
    for peer in (ann, bob):
        peer.request(protocol.Play(mode="multi", room="den"), protocol.RoundStarted)
    ann.request(protocol.Say(text="hello den"), protocol.Chat)  # the sender sees it too
    chat = bob.expect(protocol.Chat)
    assert (chat.sender, chat.text, chat.room, chat.private) == ("ann", "hello den", "den", False)
    event = admin.expect(protocol.AdminEvent, lambda e: e.kind == "chat")
    assert (event.name, event.room, event.text) == ("ann", "den", "ann in den: hello den")
    cy.request(protocol.Say(text="hello lobby"), protocol.Chat)
    ann.request(protocol.Who(), protocol.Table)
    assert not any(isinstance(m, protocol.Chat) and m.room == "lobby" for m in ann.inbox)
    assert not any(isinstance(m, protocol.Chat) and m.room == "den" for m in cy.inbox)


def test_direct_message_reaches_only_target(srv: Running) -> None:
    ann, bob, cy = srv.player("ann"), srv.player("bob"), srv.player("cy")
    ok = ann.request(protocol.DirectMessage(to="BOB", text="psst"), protocol.Ok)
    assert "psst" in ok.message
    private = bob.expect(protocol.Chat)
    assert (private.sender, private.text, private.private) == ("ann", "psst", True)
    cy.request(protocol.Who(), protocol.Table)
    assert not any(isinstance(m, protocol.Chat) for m in cy.inbox)
    ann.refused(protocol.DirectMessage(to="nobody", text="x"), "not_online")


def test_control_characters_stripped(srv: Running) -> None:
    ann, bob = srv.player("ann"), srv.player("bob")
    ann.send(protocol.Say(text="line1\nFAKE\x1b[31m red\x07"))
    assert bob.expect(protocol.Chat).text == "line1FAKE[31m red"
    ann.refused(protocol.Say(text="\n\t\x00"), "empty")


def test_server_enforces_the_size_limit(srv: Running) -> None:
    ann = srv.player("ann")
    body = json.dumps({"type": "say", "text": "x" * 4100}).encode()
    ann.send_payload(body)
    error = ann.expect(protocol.Error)
    assert error.code == "bad_length"  # over the 4096-byte frame: the connection is cut
    assert ann.closed_within()
    bob = srv.player("bob")
    bob.send_payload(json.dumps({"type": "say", "text": "y" * 3500}).encode())
    assert bob.expect(protocol.Error).code == "bad_field"  # over the chat limit, in a frame


def test_client_refuses_a_long_message_before_sending(srv: Running, tmp_path: object) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "pclient.py"), "--port", str(srv.port), "--cafile",
         str(srv.certs / "ca.pem"), "--log-dir", str(tmp_path)],
        input="ann\nsay " + "z" * 4000 + "\n/q\n", capture_output=True, text=True, timeout=30,
        cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "Not sent: the message is too long (at most 3000 characters)" in result.stdout
    assert "z" * 100 not in (ROOT / str(tmp_path) / "client.log").read_text()


def test_flood_control_warns_then_mutes_without_slowing_others(srv: Running) -> None:
    flood, bob, cy = srv.player("flood"), srv.player("bob"), srv.player("cy")
    codes: list[str] = []
    for i in range(14):
        flood.send(protocol.Say(text=f"spam {i}"))
    while len(codes) < 4:
        codes.append(flood.expect(protocol.Error).code)
    assert codes[0] == "flood" and "muted" in codes
    muted = flood.refused(protocol.Say(text="still here?"), "muted")
    assert "wait" in muted.message
    bob.request(protocol.Say(text="normal talk"), protocol.Chat)
    assert cy.expect(protocol.Chat, lambda c: c.text == "normal talk").sender == "bob"
