"""The player client's account commands: names first, then passwords asked without echo.

A password is never typed on the command line (``login NAME PASSWORD`` would show it on a
projected screen): the client refuses that line and says how.  A name is checked against the
name rule before any password is asked; a new password is asked twice; ``passwd`` checks the
old one with the server before it asks for a new one, and a guest is told at once that it has
no password.
"""

from __future__ import annotations

from collections.abc import Callable

from guessnet import wire
from guessnet.client.lines import LineInput
from guessnet.client.link import PlayerLink
from guessnet.wire import text

ON_SCREEN = ("Not sent: a password typed after the command shows on the screen. Type "
             "'{command} NAME' and give the password when asked (it is not shown).")


class PasswordPrompts:
    """``register``, ``login`` and ``change`` (``passwd``) for one player client."""

    def __init__(self, link: PlayerLink, lines: LineInput, say: Callable[[str], None]) -> None:
        self._link, self._lines, self._say = link, lines, say

    def _name(self, command: str, words: list[str], new: bool) -> str | None:
        if len(words) > 2:
            self._say(ON_SCREEN.format(command=command))
            return None
        try:
            return text.check_name(words[1], new=new)
        except text.NameInvalid as exc:
            self._say(str(exc))
            return None

    def register(self, words: list[str]) -> None:
        name = self._name(words[0].lower(), words, new=True)
        password = self._new_password("Password") if name is not None else None
        if name is not None and password is not None:
            self._account(wire.Register(name=name, password=password), password)

    def login(self, words: list[str]) -> None:
        name = self._name("login", words, new=False)
        password = self._lines.read(lambda: "Password: ", hidden=True) \
            if name is not None else None
        if name is not None and password:
            self._account(wire.Login(name=name, password=password), password)

    def _account(self, msg: wire.Register | wire.Login, password: str) -> None:
        answer = self._link.ask(msg, wire.Identified)
        if isinstance(answer, wire.Identified):
            self._link.credentials = (answer.name, password)

    def change(self, words: list[str]) -> None:
        """``passwd``: the old password is checked before the new one is asked (twice)."""
        if len(words) > 1:
            self._say(ON_SCREEN.format(command="passwd").replace(" NAME", ""))
            return
        if not self._link.view.account:
            self._say("Guests have no password: 'register NAME' makes an account.")
            return
        old = self._lines.read(lambda: "Old password: ", hidden=True)
        if not old or not isinstance(self._link.ask(wire.ChangePassword(old=old), wire.Ok),
                                     wire.Ok):
            return
        new = self._new_password("New password")
        if new is not None and isinstance(
                self._link.ask(wire.ChangePassword(old=old, new=new), wire.Ok), wire.Ok) \
                and self._link.credentials is not None:
            self._link.credentials = (self._link.credentials[0], new)

    def _new_password(self, label: str) -> str | None:
        """A password being set, asked twice without echo (None: not given, or not twice the
        same; the player is told)."""
        first = self._lines.read(lambda: f"{label}: ", hidden=True)
        if not first:
            self._say("No password given: nothing was changed.")
            return None
        try:
            text.check_password(first)
        except ValueError as exc:
            self._say(f"{exc}: nothing was sent.")
            return None
        again = self._lines.read(lambda: "Repeat it: ", hidden=True)
        if again != first:
            self._say("The two passwords differ: nothing was sent. Try again.")
            return None
        return first
