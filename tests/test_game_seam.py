"""The match games' seam is not shaped by turn-taking alone: a tiny game where both players
choose at once plugs into it with one registration and plays over the real server."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

import protocol
from guessnet.games import catalog
from guessnet.games.matchgame import MatchGame, MatchMove, MatchState, MoveRejected
from tests.conftest import Running

BEATS = {"r": "s", "p": "r", "s": "p"}


@dataclass
class ShootState(MatchState):
    """Rock-paper-scissors, one throw: both choose, then both are shown."""

    choices: dict[str, str] = field(default_factory=dict)

    @property
    def board(self) -> str:
        if self.state != "playing":
            return "".join(self.choices.get(p, " ") for p in self.players)
        return "".join("?" if p in self.choices else " " for p in self.players)

    @property
    def waiting_for(self) -> tuple[str, ...]:
        if self.state != "playing":
            return ()
        return tuple(p for p in self.players if p not in self.choices)

    def move(self, player: str, text: str) -> None:
        mark = self.check_turn(player)
        choice = text.strip().lower()[:1]
        if choice not in BEATS:
            raise MoveRejected("throw r (rock), p (paper) or s (scissors)")
        self.choices[player] = choice
        self.moves.append(MatchMove(player, mark, self.players.index(player) + 1))
        if len(self.choices) == 2:
            first, second = (self.choices[p] for p in self.players)
            if first == second:
                self.state, self.how = "draw", "the same throw"
            else:
                self.state = "won"
                self.winner = self.first if BEATS[first] == second else self.second
                self.how = "rock, paper, scissors"


class Shoot(MatchGame):
    name = "shoot"
    title = "rock-paper-scissors"
    rows, columns = 1, 2
    simultaneous = True
    move_help = "r, p or s"
    bot_promise = "it throws rock"

    def new(self, first: str, second: str) -> ShootState:
        return ShootState(first, second)

    def bot_move(self, state: MatchState, player: str) -> str:
        return "r"


ShootState.game = Shoot()


@pytest.fixture
def shoot() -> Iterator[MatchGame]:
    catalog.register(ShootState.game)  # the one line a new game needs
    yield ShootState.game
    del catalog.MATCH_GAMES[ShootState.game.name]


def test_both_players_choose_at_once_between_two_clients(srv: Running,
                                                         shoot: MatchGame) -> None:
    ann, bob = srv.player("ann"), srv.player("bob")
    ann.request(protocol.Invite(to="bob", game="shoot"), protocol.InviteUpdate)
    assert bob.expect(protocol.Invited).game == "shoot"
    bob.request(protocol.InviteReply(accept=True), protocol.InviteUpdate)
    for peer in (ann, bob):
        first = peer.expect(protocol.Board)
        assert (first.turn, first.waiting, first.board) == (None, ("ann", "bob"), "  ")
    bob.send(protocol.Move(cell="s"))  # the second player may choose first
    for peer in (ann, bob):
        board = peer.expect(protocol.Board)
        assert (board.waiting, board.board) == (("ann",), " ?")  # bob's throw is not shown
    assert "not your turn" in bob.refused(protocol.Move(cell="p"), "rejected").message
    ann.send(protocol.Move(cell="r"))
    for peer in (ann, bob):
        assert peer.expect(protocol.Board).board == "rs"
        ended = peer.expect(protocol.MatchEnded)
        assert (ended.game, ended.winner) == ("shoot", "ann")
    title, rows = ann.table(protocol.Replay(game_id=ended.game_id or 0))
    assert "shoot" in title and [r[2] for r in rows] == ["bob", "ann"]


def test_against_the_server_it_has_chosen_before_the_player(srv: Running,
                                                             shoot: MatchGame) -> None:
    ann = srv.player("ann")
    board = ann.request(protocol.Play(mode="shoot"), protocol.Board)
    assert (board.waiting, board.board) == (("ann",), " ?")
    ann.send(protocol.Move(cell="p"))
    assert ann.expect(protocol.Board).board == "pr"
    assert ann.expect(protocol.MatchEnded).winner == "ann"
    _, leaders = ann.table(protocol.Leaders(game="shoot"))
    assert leaders == []  # guests are not ranked; the board exists all the same
