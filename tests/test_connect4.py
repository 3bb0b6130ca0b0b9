"""Connect Four: the pure rules (gravity, four in a row, every move legal or rejected), the
server's player, and matches over TLS with history, replay and the leaderboard."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import protocol
from guessnet.games import catalog
from guessnet.games.connect4 import (
    COLUMNS,
    GAME,
    ROWS,
    Connect4State,
    dropped,
    winning_column,
    wins,
)
from guessnet.games.matchgame import MoveRejected
from tests.conftest import Peer, Running


def play(state: Connect4State, columns: str) -> None:
    for column in columns:
        state.move(state.waiting_for[0], column)


def test_discs_fall_to_the_lowest_free_square_and_a_full_column_is_refused() -> None:
    state = GAME.new("ann", "bob")
    play(state, "444444")
    column = [state.board[row * COLUMNS + 3] for row in range(ROWS)]
    assert column == ["O", "X", "O", "X", "O", "X"]  # top to bottom: the first is at the bottom
    assert [m.square for m in state.moves] == [39, 32, 25, 18, 11, 4]
    with pytest.raises(MoveRejected, match="full"):
        state.move("ann", "4")
    with pytest.raises(MoveRejected, match="not a column"):
        state.move("ann", "8")
    with pytest.raises(MoveRejected, match="not your turn"):
        state.move("bob", "1")


def position(xs: list[tuple[int, int]], os: list[tuple[int, int]]) -> Connect4State:
    """A match with X and O at (row from the top, column), ann (X) to move."""
    cells = [" "] * (ROWS * COLUMNS)
    for mark, squares in (("X", xs), ("O", os)):
        for row, column in squares:
            cells[row * COLUMNS + column] = mark
    state = Connect4State("ann", "bob", cells="".join(cells))
    assert state.waiting_for == ("ann",)
    return state


DIAGONAL_SUPPORT = [(5, 3), (3, 3)]  # O under and over an X at (4, 3)


@pytest.mark.parametrize("xs, os, column, how", [
    ([(5, 0), (5, 1), (5, 2)], [(4, 0), (4, 1), (4, 2)], "4", "across"),
    ([(5, 0), (4, 0), (3, 0)], [(5, 1), (4, 1), (3, 1)], "1", "down"),
    ([(5, 0), (4, 1), (3, 2), (4, 3), (5, 6)], [(5, 1), (5, 2), (4, 2), *DIAGONAL_SUPPORT],
     "4", "up-right"),
    ([(5, 6), (4, 5), (3, 4), (4, 3), (5, 0)], [(5, 5), (5, 4), (4, 4), *DIAGONAL_SUPPORT],
     "4", "up-left"),
])
def test_four_in_a_row_wins_in_every_direction(xs: list[tuple[int, int]],
                                               os: list[tuple[int, int]], column: str,
                                               how: str) -> None:
    state = position(xs, os)
    state.move("ann", column)
    assert (state.state, state.winner, state.how) == ("won", "ann", "four in a row"), how
    with pytest.raises(MoveRejected, match="over"):
        state.move("bob", "1")


def test_a_full_board_without_four_is_a_draw() -> None:
    # columns in pairs: 1,2 / 3,4 / 5,6 filled alternately, then 7: no four anywhere
    order = "121212" "212121" "343434" "434343" "565656" "656565" "777777"
    state = GAME.new("ann", "bob")
    play(state, order[:-1])
    assert state.state == "playing"
    play(state, order[-1])
    assert (state.state, state.winner, state.how) == ("draw", None, "board full")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["1", "2", "3", "4", "5", "6", "7", "0", "8", "x", " 4 "]),
                max_size=60), st.booleans())
def test_every_move_either_makes_a_legal_state_or_changes_nothing(moves: list[str],
                                                                  wrong_player: bool) -> None:
    state = GAME.new("ann", "bob")
    for text in moves:
        player = state.other(state.waiting_for[0]) if wrong_player and state.waiting_for \
            else (state.waiting_for or ("ann",))[0]
        before = (state.board, state.state, state.winner, len(state.moves))
        try:
            state.move(player, text)
        except MoveRejected:
            assert (state.board, state.state, state.winner, len(state.moves)) == before
            continue
        board = state.board
        assert board.count("X") - board.count("O") in (0, 1)
        for square, mark in enumerate(board[:-COLUMNS]):  # nothing floats
            assert mark == " " or board[square + COLUMNS] != " "
        assert state.state != "draw" or " " not in board


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, COLUMNS - 1), max_size=30))
def test_the_bot_never_misses_a_win_and_always_blocks_one(columns: list[int]) -> None:
    state = GAME.new("ann", "server")
    for column in columns:
        if state.state != "playing":
            break
        try:
            state.move(state.waiting_for[0], str(column + 1))
        except MoveRejected:
            continue
    if state.state != "playing" or state.waiting_for != ("server",):
        return
    board = state.board
    own = winning_column(board, "O")
    threats = {c for c in range(COLUMNS) if winning(board, c, "X")}
    choice = int(GAME.bot_move(state, "server")) - 1
    state.move("server", str(choice + 1))
    if own is not None:
        assert state.winner == "server"  # a win it had, taken
    elif threats:
        assert choice in threats  # a win the other had there, blocked


def discs(count: int) -> Callable[[protocol.Board], bool]:
    return lambda board: len(board.board.replace(" ", "")) == count


def winning(board: str, column: int, mark: str) -> bool:
    after = dropped(board, column, mark)
    return after is not None and wins(*after)


def test_it_is_offered_with_its_own_leaderboard() -> None:
    assert catalog.match_game("connect4") is GAME and "connect4" in catalog.boards()
    assert GAME.render(" " * 41 + "X")[-2:] == [". . . . . . X", "1 2 3 4 5 6 7"]


def test_against_the_server_over_tls(srv: Running) -> None:
    ann = srv.player("ann")
    board = ann.request(protocol.Play(mode="connect4"), protocol.Board)
    assert (board.game, board.rows, board.columns, board.turn) == ("connect4", 6, 7, "ann")
    while True:
        column = next(c for c in "4352617" if board.board[int(c) - 1] == " ")
        ann.send(protocol.Move(cell=column))
        got = ann.expect(protocol.Board)
        board = got
        if got.turn is None:
            break
    ended = ann.expect(protocol.MatchEnded)
    assert ended.game == "connect4" and ended.game_id is not None
    title, rows = ann.table(protocol.Replay(game_id=ended.game_id))
    assert "connect4" in title and rows[0][3] in range(1, 8)  # moves named by column
    assert len(str(rows[-1][5]).split("|")) == ROWS  # the board after each move, row by row


def test_between_two_players_by_invitation(make_server: Callable[..., Running]) -> None:
    srv = make_server()
    ann, bob = srv.player(), srv.player()
    for peer, name in ((ann, "ann"), (bob, "bob")):
        peer.hello()
        peer.request(protocol.Register(name=name, password="a-password"), protocol.Identified)
    ann.request(protocol.Invite(to="bob", game="connect4"), protocol.InviteUpdate)
    assert bob.expect(protocol.Invited).game == "connect4"
    bob.request(protocol.InviteReply(accept=True), protocol.InviteUpdate)
    for done, (column, mover) in enumerate(zip("1212121", "abababa", strict=True), 1):
        moving: Peer = ann if mover == "a" else bob
        moving.send(protocol.Move(cell=column))
        for peer in (ann, bob):  # each sees the board with this move on it
            peer.expect(protocol.Board, discs(done))
    for peer in (ann, bob):
        ended = peer.expect(protocol.MatchEnded)
        assert (ended.winner, ended.how) == ("ann", "four in a row")
    _, leaders = ann.table(protocol.Leaders(game="connect4"))
    assert [(row[2], row[3]) for row in leaders] == [("ann", 1), ("bob", 0)]
    assert ann.refused(protocol.Invite(to="bob", game="chess"), "bad_game")
