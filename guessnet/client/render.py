"""What the terminal clients print: tables and one line per server message (pure functions)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tabulate import tabulate

from guessnet import wire
from guessnet.games import catalog


def render_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]],
                 width: int | None = None) -> str:
    """The table in columns; wider than the terminal (``width``), one block per row instead,
    its fields packed into lines that fit (long names are never cut: commands need them)."""
    if not rows:
        return f"{title}\n  (none)"
    width = width or shutil.get_terminal_size((80, 24)).columns
    table = tabulate(rows, headers=list(columns), tablefmt="simple")
    if max(map(len, table.splitlines())) <= width:
        return f"{title}\n{table}"
    return "\n".join([title, *(stacked(columns, row, width) for row in rows)])


def stacked(columns: Sequence[str], row: Sequence[object], width: int) -> str:
    """One row as "column value" fields, as many to a line as fit in ``width``."""
    lines: list[str] = []
    line = ""
    for column, value in zip(columns, row, strict=False):
        piece = f"{column} {'-' if value is None else value}"
        if line and len(line) + 2 + len(piece) > width:
            lines.append(line)
            line = "    " + piece
        else:
            line = f"{line}; {piece}" if line else f"- {piece}"
    return "\n".join([*lines, line])


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
    used = (f"(you have already used {msg.tries_used} of your {msg.tries} tries in this round)"
            if msg.tries_used else "")
    left = f"({msg.time_left} s left in this round)" if msg.time_left is not None else ""
    if msg.paused:
        left = "(paused by the host: guesses wait until they resume the game)"
    lines = rules_line(msg, where) if brief else rules_lines(msg, where)
    return (" " if brief else "\n").join(line for line in (*lines, used, left) if line)


def rules_line(msg: wire.RoundStarted, where: str) -> list[str]:
    clock = f"; a round lasts {msg.time_limit} s from its first guess" if msg.time_limit else ""
    return [f"Round {msg.round}{where}: guess {msg.low} ~ {msg.high}, {msg.tries} tries{clock}."]


def rules_lines(msg: wire.RoundStarted, where: str) -> list[str]:
    title = f"Rule Information{where}, round {msg.round}:" if msg.room else "Rule Information:"
    clock = f"4. A round ends for everyone {msg.time_limit} s after its first guess." \
        if msg.time_limit else ""
    return [title, f"1. Number range: {msg.low} ~ {msg.high}",
            f"2. Maximum try per player: {msg.tries}",
            "3. You can leave the game by typing 'exit'.", clock]


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
    if msg.outcome == "stopped":
        return (f"The host ended round {msg.round}: the number was {msg.secret}. Starting a "
                "new round.")
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


def chat_text(msg: wire.Chat) -> str:
    where = "private" if msg.private else (msg.room or "lobby")
    earlier = ", earlier" if msg.earlier else ""
    return f"[{where}{earlier}] {msg.sender}: {msg.text}"


def guessed_text(msg: wire.Guessed) -> str:
    if msg.result == "correct":
        return f"* {msg.name} guessed {msg.value}: correct! (room {msg.room})"
    return (f"* {msg.name} guessed {msg.value}: too {msg.result} ({msg.tries_left} "
            f"{'try' if msg.tries_left == 1 else 'tries'} left; room {msg.room})")


def bye_text(msg: wire.Bye) -> str:
    if msg.reason == "quit":
        return f"You quit: {msg.message}."
    return f"Disconnected by the server: {msg.message}"


def identified_text(msg: wire.Identified) -> str:
    kind = "logged in as" if msg.account else "playing as guest"
    return f"Welcome, {msg.name}! ({kind} {msg.name})"


def invited_text(msg: wire.Invited) -> str:
    return (f"{msg.sender} invites you to {game_title(msg.game)}: type 'accept' (or y) to "
            f"play, 'decline' (or n) to refuse, within {msg.seconds} s")


# the line of each kind of message that reads the same for everyone
PLAIN: dict[type[wire.Message], Callable[[Any], str]] = {
    wire.RoomUpdate: room_update_text, wire.Chat: chat_text, wire.Bye: bye_text,
    wire.Notice: lambda msg: f"[{msg.sender}] {msg.text}",
    wire.Error: lambda msg: f"Error: {msg.message}", wire.Ok: lambda msg: msg.message,
    wire.Identified: identified_text, wire.LeftGame: lambda msg: "You left the game.",
    wire.Invited: invited_text, wire.InviteUpdate: lambda msg: msg.message,
    wire.Guessed: guessed_text,
}


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
    if isinstance(msg, wire.Board):
        return board_text(msg)
    if isinstance(msg, wire.MatchEnded):
        return match_end_text(msg, me)
    plain = PLAIN.get(type(msg))
    return None if plain is None else plain(msg)


def game_title(name: str) -> str:
    game = catalog.match_game(name)
    return game.title if game is not None else name


def board_text(msg: wire.Board) -> str:
    """The board with the moves to type, whose move it is, and the RTT."""
    game = catalog.match_game(msg.game)
    marks = game.marks if game is not None else ("X", "O")
    rtt = f"{msg.rtt_ms:.1f} ms" if msg.rtt_ms is not None else "-"
    lines = [f"{game_title(msg.game)}: {msg.x} ({marks[0]}) vs {msg.o} ({marks[1]})    "
             f"rtt: {rtt}"]
    drawing = game.render(msg.board) if game is not None else [
        msg.board[r * msg.columns:(r + 1) * msg.columns] for r in range(msg.rows)]
    lines += ["    " + line for line in drawing]
    me = msg.x if msg.you == marks[0] else msg.o
    how = f"type {game.move_help}" if game is not None else "type your move"
    lines.append(whose_move(msg, me, how))
    return "\n".join(line for line in lines if line)


def whose_move(msg: wire.Board, me: str, how: str) -> str:
    if msg.turn == me or (msg.turn is None and me in msg.waiting):
        return f"Your move ({msg.you}): {how}; 'resign' concedes."
    if msg.turn is not None:
        return f"{msg.turn}'s move: waiting..."
    if msg.waiting:
        return f"Waiting for {' and '.join(msg.waiting)} to choose..."
    return ""


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
