"""The admin console's commands: one table, from which help, usage and the requests follow.

An ``AdminCommand`` names its word, how it is typed and what it does, how many words must
follow it, and ``build``: the request to send for the typed words (None when they do not fit
the usage, which is then shown).  The console sends the request and waits for one of
``answers``.  Pure: no I/O.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from guessnet import wire
from guessnet.client.connection import small_int
from guessnet.wire.text import parse_duration

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


def _ban(words: list[str], rest: str) -> wire.Message | None:
    seconds = parse_duration(words[2])
    return None if seconds is None or seconds < 1 else \
        wire.Ban(target=words[1], seconds=seconds, reason=after(words, rest, 2))


def _mute(words: list[str], rest: str) -> wire.Message | None:
    seconds = 0 if words[2].lower() in ("0", "off") else parse_duration(words[2])
    return None if seconds is None else wire.Mute(name=words[1], seconds=seconds)


def _rules(words: list[str], rest: str) -> wire.Message | None:
    """``rules ROOM [range LOW-HIGH] [tries N] [time SECONDS|off]``."""
    pairs = words[2:]
    if not pairs or len(pairs) % 2:
        return None
    values: dict[str, int | None] = {}
    for key, value in zip(pairs[::2], pairs[1::2], strict=True):
        rule = _rule(key, value)
        if rule is None:
            return None
        values.update(rule)
    return wire.RoomRules(room=words[1], **values)


def _rule(key: str, value: str) -> dict[str, int | None] | None:
    if key == "range":
        bounds = RANGE.fullmatch(value)
        return None if bounds is None else {"low": int(bounds.group(1)),
                                            "high": int(bounds.group(2))}
    if key == "tries":
        tries = small_int(value, 4)
        return None if tries is None else {"tries": tries}
    if key == "time":
        seconds = 0 if value == "off" else parse_duration(value)
        return None if seconds is None else {"seconds": seconds}
    return None


def _export(words: list[str], rest: str) -> wire.Message | None:
    """``export FILE [--since TIME] [--room ROOM]`` (the console writes the files)."""
    options = words[2:]
    if len(options) % 2:
        return None
    since: float | None = None
    room: str | None = None
    for key, value in zip(options[::2], options[1::2], strict=True):
        if key == "--since" and (when := parse_time(value)) is not None:
            since = when
        elif key == "--room":
            room = value
        else:
            return None
    return wire.Export(since=since, room=room)


def parse_time(text: str, now: float | None = None) -> float | None:
    """A moment: ``2026-12-04 09:00`` (or ``T``), ``2026-12-04``, ``09:00`` (today), or a
    duration ago (``90m``, ``2h``); None if it is none of these."""
    now = time.time() if now is None else now
    ago = parse_duration(text) if not text.isdigit() else None
    if ago is not None:
        return now - ago
    for form in ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return time.mktime(time.strptime(text.replace("_", " "), form))
        except ValueError:
            continue
    try:
        clock = time.strptime(text, "%H:%M")
    except ValueError:
        return None
    today = time.localtime(now)
    return time.mktime((today.tm_year, today.tm_mon, today.tm_mday, clock.tm_hour,
                        clock.tm_min, 0, 0, 0, -1))


def _history(words: list[str], rest: str) -> wire.Message:
    limit = small_int(words[1], 6) if len(words) > 1 else 10
    return wire.History(limit=max(1, min(100, limit if limit is not None else 100)))


def _replay(words: list[str], rest: str) -> wire.Message | None:
    game_id = small_int(words[1]) if len(words) == 2 else None
    return None if game_id is None else wire.Replay(game_id=max(1, game_id))


TABLES = (wire.Table,)
RANGE = re.compile(r"(-?\d{1,9})-(-?\d{1,9})")
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
    AdminCommand("ban", "ban NAME|ADDRESS DURATION [REASON]", "keep a player or an address "
                 "out for DURATION (1h10m, 30m, 2d): they are told why and until when",
                 _ban, needs=2),
    AdminCommand("unban", "unban NAME|ADDRESS", "lift a ban",
                 lambda w, r: wire.Unban(target=w[1]), needs=1),
    AdminCommand("bans", "bans", "the bans and mutes in force, and when each ends",
                 lambda w, r: wire.Bans(), answers=TABLES),
    AdminCommand("mute", "mute NAME DURATION", "refuse NAME's chat for DURATION (0: lift "
                 "it); nobody else sees it", _mute, needs=2),
    AdminCommand("rename", "rename NAME NEW", "a guest's or an account's name becomes NEW "
                 "(the player is told)", lambda w, r: wire.Rename(name=w[1], new=w[2]),
                 needs=2),
    AdminCommand("pause", "pause ROOM", "stop ROOM's clock; guesses wait (everyone is told)",
                 lambda w, r: wire.PauseRoom(room=w[1]), needs=1),
    AdminCommand("resume", "resume ROOM", "start ROOM's clock again where it stopped",
                 lambda w, r: wire.ResumeRoom(room=w[1]), needs=1),
    AdminCommand("next", "next ROOM", "end ROOM's round now, reveal the number, start the "
                 "next", lambda w, r: wire.NextRound(room=w[1]), needs=1),
    AdminCommand("lock", "lock ROOM", "no new players in ROOM",
                 lambda w, r: wire.LockRoom(room=w[1]), needs=1),
    AdminCommand("unlock", "unlock ROOM", "new players may join ROOM again",
                 lambda w, r: wire.UnlockRoom(room=w[1]), needs=1),
    AdminCommand("rules", "rules ROOM [range LOW-HIGH] [tries N] [time S|off]",
                 "ROOM's rules from its next round", _rules, needs=3),
    AdminCommand("export", "export FILE [--since TIME] [--room ROOM]", "finished games to "
                 "FILE and the leaderboards to FILE-leaders.csv, as CSV (TIME: 2026-12-04 "
                 "09:00, 09:00 or 2h ago as 2h)", _export, needs=1),
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
