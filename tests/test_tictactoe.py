"""Tic-tac-toe: the pure rules (every state, every move), the bot, and matches over TLS."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import protocol
from guessnet.games.matchgame import MoveRejected
from guessnet.games.tictactoe import GAME, TicTacToeState, best_move, parse_cell, winner_of
from guessnet.services import invitations
from tests.conftest import ROOT, Peer, Running

# --------------------------------------------------------------------- pure rules


@pytest.mark.parametrize("text, cell", [("1", 0), ("9", 8), (" 5 ", 4), ("a1", 0), ("C3", 8),
                                        ("b2", 4), ("2,3", 5), ("3 1", 6), ("1, 2", 1)])
def test_cell_forms(text: str, cell: int) -> None:
    assert parse_cell(text) == cell


@pytest.mark.parametrize("text", ["0", "10", "d1", "a4", "4,1", "", "x", "1,2,3", "-1", "\u0661"])
def test_bad_cells(text: str) -> None:
    with pytest.raises(MoveRejected):
        parse_cell(text)


def test_turns_taken_cells_and_win() -> None:
    m = GAME.new("ann", "bob")
    with pytest.raises(MoveRejected, match="not your turn"):
        m.move("bob", "1")
    m.move("ann", "1")
    with pytest.raises(MoveRejected, match="taken"):
        m.move("bob", "a1")
    with pytest.raises(MoveRejected, match="not playing"):
        m.move("cy", "5")
    m.move("bob", "4")
    m.move("ann", "2")
    m.move("bob", "5")
    m.move("ann", "3")
    assert (m.state, m.winner, m.turn) == ("won", "ann", None)
    with pytest.raises(MoveRejected, match="over"):
        m.move("bob", "9")


def test_draw_and_resign() -> None:
    m = GAME.new("ann", "bob")
    for player, cell in zip(["ann", "bob"] * 5, "153246879", strict=False):
        m.move(player, cell)
    assert m.state == "draw" and m.winner is None
    r = GAME.new("ann", "bob")
    r.resign("ann")
    assert (r.state, r.winner, r.how) == ("won", "bob", "ann resigned")


def reachable() -> Iterator[str]:
    """Every board reachable in legal play (5478 of them)."""
    seen = {" " * 9}
    todo = [" " * 9]
    while todo:
        board = todo.pop()
        yield board
        if winner_of(board) or " " not in board:
            continue
        mark = "X" if board.count("X") == board.count("O") else "O"
        for i in range(9):
            if board[i] == " ":
                nxt = board[:i] + mark + board[i + 1:]
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)


ALL_BOARDS = list(reachable())


def test_every_state_and_move_is_legal_or_rejected() -> None:
    assert len(ALL_BOARDS) == 5478
    inputs = [str(i) for i in range(0, 11)] + ["b2", "2,2", "zz"]
    for board in ALL_BOARDS:
        for player in ("ann", "bob"):
            for text in inputs:
                m = TicTacToeState("ann", "bob", cells=board)
                if winner_of(board):
                    m.state = "won"
                elif " " not in board:
                    m.state = "draw"
                before = (m.board, m.state, m.winner)
                try:
                    m.move(player, text)
                except MoveRejected:
                    assert (m.board, m.state, m.winner) == before
                    continue
                assert m.board.count("X") - m.board.count("O") in (0, 1)
                assert m.board.count(" ") == board.count(" ") - 1
                assert (m.state == "won") == (winner_of(m.board) is not None)
                assert m.state != "draw" or " " not in m.board


def test_bot_never_loses_exhaustively() -> None:
    """Every line of play against the bot, as X and as O: it never loses."""
    outcomes = {"won": 0, "draw": 0}

    def explore(board: str, human: str) -> None:
        bot = "O" if human == "X" else "X"
        won = winner_of(board)
        if won is not None:
            assert won == bot, board
            outcomes["won"] += 1
            return
        if " " not in board:
            outcomes["draw"] += 1
            return
        to_move = "X" if board.count("X") == board.count("O") else "O"
        if to_move == bot:
            cell = best_move(board, bot) - 1
            assert board[cell] == " "
            explore(board[:cell] + bot + board[cell + 1:], human)
        else:
            for i in range(9):
                if board[i] == " ":
                    explore(board[:i] + human + board[i + 1:], human)

    explore(" " * 9, "X")
    explore(" " * 9, "O")
    assert outcomes["draw"] > 0 and outcomes["won"] > 0


# --------------------------------------------------------------------- over TLS


def board_for(peer: Peer) -> protocol.Board:
    return peer.expect(protocol.Board)


def start_match(srv: Running) -> tuple[Peer, Peer]:
    ann, bob = srv.player("ann"), srv.player("bob")
    sent = ann.request(protocol.Invite(to="bob"), protocol.InviteUpdate)
    assert sent.outcome == "sent"
    invited = bob.expect(protocol.Invited)
    assert invited.sender == "ann" and invited.seconds == 30
    bob.request(protocol.InviteReply(accept=True), protocol.InviteUpdate)
    assert ann.expect(protocol.InviteUpdate).outcome == "accepted"
    for peer, mark in ((ann, "X"), (bob, "O")):
        first = board_for(peer)
        assert (first.you, first.turn, first.board) == (mark, "ann", " " * 9)
    return ann, bob


def test_full_match_between_two_clients(srv: Running) -> None:
    admin = srv.admin()
    ann, bob = start_match(srv)
    for mover, other, cell in ((ann, bob, "1"), (bob, ann, "b2"), (ann, bob, "2"),
                               (bob, ann, "3,1"), (ann, bob, "3")):
        mine = mover.request(protocol.Move(cell=cell), protocol.Board)
        theirs = board_for(other)  # relayed at once
        assert mine.board == theirs.board
    assert mine.board == "XXX O O  " and mine.turn is None
    for peer in (ann, bob):
        ended = peer.expect(protocol.MatchEnded)
        assert (ended.outcome, ended.winner) == ("won", "ann")
    event = admin.expect(protocol.AdminEvent, lambda e: "won by ann" in e.text)
    assert event.kind == "match"
    assert ended.game_id is not None
    title, moves = ann.table(protocol.Replay(game_id=ended.game_id))
    assert "tictactoe" in title and [m[3] for m in moves] == [1, 5, 2, 7, 3]
    assert [m[5] for m in moves] == ["X..|...|...", "X..|.O.|...", "XX.|.O.|...",
                                     "XX.|.O.|O..", "XXX|.O.|O.."]  # the board, move by move


def test_illegal_moves_rejected(srv: Running) -> None:
    ann, bob = start_match(srv)
    assert "not your turn" in bob.refused(protocol.Move(cell="5"), "rejected").message
    ann.request(protocol.Move(cell="5"), protocol.Board)
    board_for(bob)
    assert "taken" in bob.refused(protocol.Move(cell="2,2"), "rejected").message
    assert "not a cell" in bob.refused(protocol.Move(cell="z9"), "rejected").message
    bob.refused(protocol.Guess(value=3), "not_playing")
    bob.refused(protocol.Play(mode="single"), "busy")
    bob.request(protocol.Resign(), protocol.MatchEnded)
    ended = ann.expect(protocol.MatchEnded)
    assert ended.winner == "ann" and "bob resigned" in ended.how


def test_disconnect_loses_the_match_after_grace(make_server: Callable[..., Running]) -> None:
    srv = make_server("--resume-grace", "0.5")
    ann, bob = start_match(srv)
    bob.close()
    assert "seat is held" in ann.expect(protocol.Notice).text
    ended = ann.expect(protocol.MatchEnded)
    assert ended.winner == "ann" and "bob did not come back" in ended.how


def test_invitation_declined(srv: Running) -> None:
    ann, bob = srv.player("ann"), srv.player("bob")
    ann.request(protocol.Invite(to="bob"), protocol.InviteUpdate)
    bob.expect(protocol.Invited)
    bob.request(protocol.InviteReply(accept=False), protocol.InviteUpdate)
    assert ann.expect(protocol.InviteUpdate).outcome == "declined"
    bob.refused(protocol.InviteReply(accept=True), "no_invite")


def test_invitation_times_out(srv: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(invitations, "INVITE_SECONDS", 1)
    ann, bob = srv.player("ann"), srv.player("bob")
    ann.request(protocol.Invite(to="bob"), protocol.InviteUpdate)
    assert bob.expect(protocol.Invited).seconds == 1
    for peer in (ann, bob):
        update = peer.expect(protocol.InviteUpdate, lambda u: u.outcome == "timeout")
        assert "did not answer" in update.message


def test_inviter_leaving_cancels(srv: Running) -> None:
    ann, bob = srv.player("ann"), srv.player("bob")
    ann.request(protocol.Invite(to="bob"), protocol.InviteUpdate)
    bob.expect(protocol.Invited)
    ann.close()
    assert bob.expect(protocol.InviteUpdate).outcome == "cancelled"


@pytest.mark.parametrize("target, code", [("ann", "self_invite"), ("zed", "not_online")])
def test_invitation_refusals(srv: Running, target: str, code: str) -> None:
    ann = srv.player("ann")
    ann.refused(protocol.Invite(to=target), code)


def test_invitee_offline_account_and_busy(srv: Running) -> None:
    ann = srv.player("ann")
    srv.backends.store.create_user("dora", "scrypt$unused", 0.0)  # an account, offline
    assert ann.refused(protocol.Invite(to="dora"), "not_online").message == "dora is not online"
    srv.player("bob")
    cy = srv.player("cy")
    cy.request(protocol.Play(mode="tictactoe"), protocol.Board)
    assert "in a match" in ann.refused(protocol.Invite(to="cy"), "busy").message
    assert "finish your match" in cy.refused(protocol.Invite(to="bob"), "busy").message
    ann.request(protocol.Invite(to="bob"), protocol.InviteUpdate)
    dee = srv.player("dee")
    assert "another invitation" in dee.refused(protocol.Invite(to="bob"), "busy").message


def play_against_bot(peer: Peer, choose: Callable[[str], str]) -> protocol.MatchEnded:
    board = peer.request(protocol.Play(mode="tictactoe"), protocol.Board)
    while True:
        peer.send(protocol.Move(cell=choose(board.board)))
        board = peer.expect(protocol.Board)
        if board.turn is None:
            return peer.expect(protocol.MatchEnded)


def test_bot_match_over_tls_and_leaderboard(srv: Running) -> None:
    ann = srv.player()
    ann.hello()
    ann.request(protocol.Register(name="ann", password="ann-password"), protocol.Identified)
    ended = play_against_bot(ann, lambda b: str(b.index(" ") + 1))
    assert ended.winner in (None, "server")  # the bot never loses
    _, rows = ann.table(protocol.Leaders(game="tictactoe"))
    assert [(r[2], r[3], r[4]) for r in rows] == [("ann", 0, 1)]
    assert ann.table(protocol.History(limit=1))[1][0][2] == "tictactoe"


def test_exit_in_a_match_concedes_it_and_the_client_stays(srv: Running, tmp_path: Path) -> None:
    ran = subprocess.run(
        [sys.executable, str(ROOT / "pclient.py"), "--port", str(srv.port), "--cafile",
         str(srv.certs / "ca.pem"), "--log-dir", str(tmp_path / "logs")],
        input="zoe\nplay tictactoe\nexit\nwho\n/q\n", capture_output=True, text=True,
        timeout=30, cwd=ROOT)
    assert ran.returncode == 0 and "Traceback" not in ran.stderr, ran.stderr
    out = ran.stdout
    assert "resigned" in out.lower() and "Disconnected" not in out
    assert "zoe" in out[out.lower().index("resigned"):]  # 'who' was still answered after
