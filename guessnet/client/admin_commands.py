"""The admin console's commands: one table, from which help, usage and the requests follow.

An ``AdminCommand`` names its word, how it is typed and what it does, how many words must
follow it, and ``build``: the request to send for the typed words (None when they do not fit
the usage, which is then shown).  The console sends the request and waits for one of
``answers``.  Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from guessnet import wire
from guessnet.client.connection import small_int

Build = Callable[[list[str], str], wire.Message | None]  # (words, the text after the word)


@dataclass(frozen=True)
class AdminCommand:
    word: str
    usage: str
    text: str
    build: Build
    needs: int = 0
    aliases: tuple[str, ...] = ()
    answers: tuple[type[wire.Message], ...] = (wire.Ok,)


def after(words: list[str], rest: str, index: int) -> str:
    """The text after the first ``index`` words of ``rest`` (which follows the command)."""
    parts = rest.split(None, index)
    return parts[index] if len(parts) > index else ""


def _history(words: list[str], rest: str) -> wire.Message:
    limit = small_int(words[1], 6) if len(words) > 1 else 10
    return wire.History(limit=max(1, min(100, limit if limit is not None else 100)))


def _replay(words: list[str], rest: str) -> wire.Message | None:
    game_id = small_int(words[1]) if len(words) == 2 else None
    return None if game_id is None else wire.Replay(game_id=max(1, game_id))


TABLES = (wire.Table,)
COMMANDS: tuple[AdminCommand, ...] = (
    AdminCommand("list", "list (or who)", "connected player sockets: id, peer, name, where, "
                 "tries, since, rtt", lambda w, r: wire.ListPlayers(), aliases=("who",),
                 answers=TABLES),
    AdminCommand("rooms", "rooms", "rooms with their members and round number",
                 lambda w, r: wire.ListRooms(), answers=TABLES),
    AdminCommand("stats", "stats", "players online, rounds played and won, correct answers, "
                 "uptime", lambda w, r: wire.Stats(), answers=TABLES),
    AdminCommand("kick", "kick ID|NAME [REASON]", "tell the player why and disconnect them",
                 lambda w, r: wire.Kick(target=w[1], reason=after(w, r, 1)), needs=1),
    AdminCommand("say", "say TEXT", "a message to every player",
                 lambda w, r: wire.Say(text=r), needs=1),
    AdminCommand("msg", "msg NAME TEXT", "a message to one player",
                 lambda w, r: wire.DirectMessage(to=w[1], text=after(w, r, 1)), needs=2),
    AdminCommand("history", "history [N]", "the last N games of everyone", _history,
                 answers=TABLES),
    AdminCommand("replay", "replay ID", "one game, move by move (an ID from 'history')",
                 _replay, needs=1, answers=TABLES),
)
BY_WORD = {word: command for command in COMMANDS for word in (command.word, *command.aliases)}


def help_text() -> str:
    lines = ["Admin commands"]
    lines += [f"  {command.usage:<24} {command.text}" for command in COMMANDS]
    lines += [f"  {'help':<24} this text", f"  {'/q, quit or exit':<24} quit",
              "Events (players connecting, joining, leaving, rounds ending) are printed as "
              "they happen."]
    return "\n".join(lines)
