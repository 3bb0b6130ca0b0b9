"""What the terminal clients print: tables and one line per server message (pure functions)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tabulate import tabulate

from guessnet import wire
from guessnet.games.tictactoe import render


def render_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    if not rows:
        return f"{title}\n  (none)"
    return f"{title}\n{tabulate(rows, headers=list(columns), tablefmt='simple')}"


@dataclass
class TableAssembler:
    """Joins the parts of a table sent over several frames."""

    _rows: dict[str, list[tuple[wire.Scalar, ...]]] = field(default_factory=dict)

    def add(self, part: wire.Table) -> str | None:
        """The whole rendered table when ``part`` is its last part, else None."""
        rows = self._rows.setdefault(part.title, [])
        rows.extend(part.rows)
        if not part.last:
            return None
        del self._rows[part.title]
        return render_table(part.title, part.columns, rows)


def rules_text(msg: wire.RoundStarted, brief: bool = False) -> str:
    """The rules of the round: in full when a game begins, one line for each next round."""
    where = f" in room {msg.room}" if msg.room else ""
    clock = f"; a round lasts {msg.time_limit} s from its first guess" if msg.time_limit else ""
    used = (f"(you have already used {msg.tries_used} of your {msg.tries} tries in this round)"
            if msg.tries_used else "")
    left = f"({msg.time_left} s left in this round)" if msg.time_left is not None else ""
    if brief:
        return " ".join(part for part in (f"Round {msg.round}{where}: guess {msg.low} ~ "
                                          f"{msg.high}, {msg.tries} tries{clock}.", used, left)
                        if part)
    lines = [f"Rule Information{where}, round {msg.round}:" if msg.room else
             "Rule Information:",
             f"1. Number range: {msg.low} ~ {msg.high}",
             f"2. Maximum try per player: {msg.tries}",
             "3. You can leave the game by typing 'exit'."]
    if msg.time_limit:
        lines.append(f"4. A round ends for everyone {msg.time_limit} s after its first guess.")
    lines += [part for part in (used, left) if part]
    return "\n".join(lines)


def hint_text(msg: wire.Hint, mode: str | None) -> str:
    if msg.result == "correct":
        return f"Correct! {msg.value} is the number (try {msg.tries_used})."
    line = f"Hint: You guessed too {msg.result}!"
    if msg.tries_left == 0 and mode == "multi":
        line += " You have used all your tries: waiting for the others to finish the round."
    elif msg.tries_left:
        line += f" ({msg.tries_left} {'try' if msg.tries_left == 1 else 'tries'} left)"
    return line


def round_end_text(msg: wire.RoundEnded, me: str | None) -> str:
    if msg.outcome == "timeout":
        return f"Time is up: the number was {msg.secret}. Starting a new round."
    if msg.mode == "single":
        if msg.outcome == "won":
            return (f"Congratulations, you guessed it: the number was {msg.secret}! "
                    "Starting a new round.")
        return f"Sorry, you've used all your attempts! The number was {msg.secret}"
    if msg.outcome == "won":
        who = "You" if me is not None and msg.winner == me else msg.winner
        return (f"{who} guessed the number {msg.secret} and won round {msg.round} in room "
                f"{msg.room}. Starting a new round.")
    return f"All participants failed to guess (the number was {msg.secret}), starting a new round"


def room_update_text(msg: wire.RoomUpdate) -> str:
    if msg.event == "away":
        held = f"; seat held {msg.seconds} s" if msg.seconds else ""
        return f"* {msg.name} lost connection{held} (room {msg.room})"
    if msg.event == "back":
        return f"* {msg.name} is back (room {msg.room})"
    if msg.event == "lost":
        return f"* {msg.name} lost connection and left the round (room {msg.room})"
    return f"* {msg.name} {msg.event} room {msg.room}"


def message_text(msg: wire.Message, me: str | None, mode: str | None,
                 brief: bool = False) -> str | None:
    """The line a player sees for a server message (None: nothing to show); ``brief``: the
    rules of a round in one line (the player has seen them in full in this game)."""
    if isinstance(msg, wire.RoundStarted):
        return rules_text(msg, brief)
    if isinstance(msg, wire.Hint):
        return hint_text(msg, mode)
    if isinstance(msg, wire.RoundEnded):
        return round_end_text(msg, me)
    if isinstance(msg, wire.RoomUpdate):
        return room_update_text(msg)
    if isinstance(msg, wire.Chat):
        where = "private" if msg.private else (msg.room or "lobby")
        return f"[{where}] {msg.sender}: {msg.text}"
    if isinstance(msg, wire.Notice):
        return f"[{msg.sender}] {msg.text}"
    if isinstance(msg, wire.Error):
        return f"Error: {msg.message}"
    if isinstance(msg, wire.Ok):
        return msg.message
    if isinstance(msg, wire.Bye):
        return f"Disconnected by the server: {msg.message}"
    if isinstance(msg, wire.Identified):
        kind = "logged in as" if msg.account else "playing as guest"
        return f"Welcome, {msg.name}! ({kind} {msg.name})"
    if isinstance(msg, wire.LeftGame):
        return "You left the game."
    if isinstance(msg, wire.Invited):
        return (f"{msg.sender} invites you to tic-tac-toe: type 'accept' (or y) to play, "
                f"'decline' (or n) to refuse, within {msg.seconds} s")
    if isinstance(msg, wire.InviteUpdate):
        return msg.message
    if isinstance(msg, wire.Board):
        return board_text(msg)
    if isinstance(msg, wire.MatchEnded):
        return match_end_text(msg, me)
    return None


def board_text(msg: wire.Board) -> str:
    """The tic-tac-toe board with the cells to type, whose turn it is, and the RTT."""
    rtt = f"{msg.rtt_ms:.1f} ms" if msg.rtt_ms is not None else "-"
    me = msg.x if msg.you == "X" else msg.o
    lines = [f"tic-tac-toe #{msg.match_id}: {msg.x} (X) vs {msg.o} (O)    rtt: {rtt}"]
    lines += ["    " + line for line in render(msg.board)]
    if msg.turn is None:
        pass
    elif msg.turn == me:
        lines.append(f"Your turn ({msg.you}): type a cell (1-9, b2 or 2,3); 'resign' concedes.")
    else:
        lines.append(f"{msg.turn}'s turn: waiting...")
    return "\n".join(lines)


def match_end_text(msg: wire.MatchEnded, me: str | None) -> str:
    if msg.outcome == "draw":
        result = "It's a draw."
    elif msg.winner == me:
        result = f"You won ({msg.how})!"
    else:
        result = f"{msg.winner} won ({msg.how})."
    replay = f" 'replay {msg.game_id}' shows it again." if msg.game_id else ""
    return f"Match over: {result}{replay}"


def event_text(msg: wire.AdminEvent) -> str:
    """One line per admin event: time, kind, text."""
    return f"[{msg.at}] {msg.kind}: {msg.text}"
