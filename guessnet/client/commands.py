"""The player client's commands: one table, from which help, usage lines, the commands allowed
before a name and the dispatch all follow.  Pure: no I/O.

A ``Command`` names what the player types (its word and aliases), how (``usage``), what it does
(``text``), where it is offered (``places``: the client's ``Where``; empty means anywhere),
whether it works before a name (``nameless``) and how many words must follow it.  ``find``
picks the command for a typed line in the player's place; a line that is no command is a guess
(in a guessing game), a move (in a match) or a name (at the name prompt), as ``PlayerClient``
decides.
"""

from __future__ import annotations

from dataclasses import dataclass

from guessnet.client.connection import small_int
from guessnet.client.view import Where
from guessnet.games import catalog

MATCH_GAMES = ", ".join(catalog.MATCH_GAMES)


@dataclass(frozen=True)
class Command:
    word: str
    usage: str
    text: str
    section: str
    aliases: tuple[str, ...] = ()
    places: frozenset[Where] = frozenset()
    nameless: bool = False
    needs: int = 0  # words that must follow the command word

    def offered(self, where: Where) -> bool:
        return not self.places or where in self.places


GAME, MENU, MATCHES, ANYWHERE, ACCOUNT = ("In a game", "At the menu", "Matches", "Anywhere",
                                         "Account")
COMMANDS: tuple[Command, ...] = (
    Command("exit", "exit", "leave the game (a match is conceded), back to the menu; "
            "elsewhere it quits", GAME),
    Command("single", "1 or single", "a single-player game", MENU, ("1",),
            frozenset({Where.MENU})),
    Command("multi", "2 or multi [ROOM]", "the multiplayer room 'main', or join (or "
            "create) ROOM", MENU, ("2",), frozenset({Where.MENU})),
    Command("play", "play GAME [NAME]", f"a match of GAME ({MATCH_GAMES}) against the "
            "server, or challenge NAME", MATCHES, needs=1),
    Command("invite", "invite NAME [GAME]", "challenge NAME (to tic-tac-toe unless GAME "
            "is given)", MATCHES, needs=1),
    Command("accept", "accept, decline", "answer an invitation (also y or n, alone on a "
            "line)", MATCHES, ("decline",)),
    Command("resign", "resign", "concede the match", MATCHES, places=frozenset({Where.MATCH})),
    Command("watch", "watch ROOM|NAME", "follow a room's rounds, or NAME's match, without "
            "playing ('exit' stops)", MATCHES, places=frozenset({Where.MENU}), needs=1),
    Command("say", "say TEXT", "chat to everyone in your room (the lobby is a room too)",
            ANYWHERE, needs=1),
    Command("msg", "msg NAME TEXT", "a private message to NAME", ANYWHERE, needs=2),
    Command("who", "who", "players online", ANYWHERE, ("list",), nameless=True),
    Command("leaders", "leaders [GAME]", "leaderboards: single, multi, "
            f"{MATCH_GAMES} (all if omitted)", ANYWHERE, nameless=True),
    Command("history", "history [N]", "your last N games (accounts only)", ANYWHERE),
    Command("replay", "replay ID", "one game, move by move (an ID from 'history')",
            ANYWHERE, nameless=True, needs=1),
    Command("ping", "ping", "round-trip time to the server", ANYWHERE, nameless=True),
    Command("register", "register NAME", "create an account and log in (also: adduser); "
            "the password is asked twice, without echo", ACCOUNT, ("adduser",), nameless=True,
            needs=1),
    Command("login", "login NAME", "log in; the password is asked without echo", ACCOUNT,
            nameless=True, needs=1),
    Command("passwd", "passwd", "change your password (the old one is checked first)",
            ACCOUNT),
    Command("logout", "logout", "log out, back to the name prompt", ACCOUNT),
    Command("help", "help", "this text", ANYWHERE, nameless=True),
    Command("quit", "/q, quit", "quit", ANYWHERE, ("/q",), nameless=True),
)
BY_WORD = {word: command for command in COMMANDS
           for word in (command.word, *command.aliases)}


def find(word: str, where: Where) -> Command | None:
    """The command ``word`` names, if it is offered in ``where`` (case ignored)."""
    command = BY_WORD.get(word.lower())
    return command if command is not None and command.offered(where) else None


def help_text() -> str:
    """Every command, by section, as the player reads it."""
    lines = ["Commands"]
    for section in (GAME, MENU, MATCHES, ANYWHERE, ACCOUNT):
        first = True
        for command in (c for c in COMMANDS if c.section == section):
            label = section if first else ""
            lines.append(f"  {label:<13} {command.usage:<19} {command.text}")
            first = False
        if section == GAME:
            lines.append(f"  {'':<13} {'a number':<19} your guess, in a guessing game")
            lines.append(f"  {'':<13} {'a move':<19} in a match: the game says how to type it")
    return "\n".join(lines)


def usage(command: Command) -> str:
    return f"Usage: {command.usage}   ({command.text})"


def is_number(typed: str) -> bool:
    """A whole number as typed (of any length: ``guess`` says when it is out of range)."""
    body = typed[1:] if typed[:1] in ("+", "-") else typed
    return body.isascii() and body.isdigit()


def int_arg(words: list[str], index: int, default: int, low: int, high: int) -> int:
    value = small_int(words[index], 6) if len(words) > index else None
    if value is None:
        return high if len(words) > index and is_number(words[index]) else default
    return max(low, min(high, value))
