"""The admin's moderation: ban, unban, bans, mute, rename (the admin protocol's handlers).

Each works across the processes that share Redis: bans and mutes through
``services.moderation`` (kept in the store, so they outlive a restart), renames through the
registry, which reaches the player wherever they are.  Every change is logged to the audit log
and told to the admins.  A ban's target is an address when it reads as one (IPv4, IPv6), else
a name.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Protocol

from guessnet import wire
from guessnet.services.composition import Services
from guessnet.services.errors import Refused
from guessnet.services.moderation import until_text
from guessnet.sessions.session import HandlerTable
from guessnet.storage.base import NameTaken, Sanction
from guessnet.support.logs import clock_text
from guessnet.wire import text
from guessnet.wire.tables import counted
from guessnet.wire.text import clean_text, escape


class Host(Protocol):
    """An admin session, as the host's tools use it."""

    services: Services
    holder: str

    def send(self, msg: wire.Message) -> None: ...

    def send_table(self, title: str, columns: list[str], rows: list[list[Any]]) -> None: ...


def is_address(target: str) -> bool:
    try:
        ipaddress.ip_address(target.strip("[]"))
    except ValueError:
        return False
    return True


def tell_admins(host: Host, kind: str, text: str, **fields: str | None) -> None:
    host.services.channels.admin_event(kind, f"{text} (by {host.holder})", "ADMIN",
                                       audit_event=True, **fields)


def on_ban(host: Host, msg: wire.Ban) -> None:
    reason = clean_text(msg.reason)
    scope = "address" if is_address(msg.target) else "name"
    if scope == "name":
        try:
            text.check_name(msg.target, new=False)
        except text.NameInvalid as exc:
            raise Refused("bad_name", str(exc)) from None
    ban = host.services.moderation.ban(scope, msg.target, msg.seconds, reason, host.holder)
    what = f"{scope} {escape(msg.target, 64)}"
    tell_admins(host, "ban", f"{what} banned {until_text(ban)}",
                name=msg.target if scope == "name" else None)
    host.send(wire.Ok(message=f"banned {what} {until_text(ban)}"))


def on_unban(host: Host, msg: wire.Unban) -> None:
    scope = "address" if is_address(msg.target) else "name"
    if not host.services.moderation.lift("ban", scope, msg.target):
        raise Refused("not_found", f"no ban on {escape(msg.target, 64)}: 'bans' lists them")
    tell_admins(host, "unban", f"{scope} {escape(msg.target, 64)} unbanned")
    host.send(wire.Ok(message=f"the ban on {escape(msg.target, 64)} is lifted"))


def on_bans(host: Host, msg: wire.Bans) -> None:
    sanctions = host.services.moderation.in_force()
    host.send_table(f"{counted(len(sanctions), 'sanction')} in force (bans and mutes)",
                    ["kind", "on", "who", "until", "reason", "by"], [row(s) for s in sanctions])


def row(sanction: Sanction) -> list[Any]:
    return [sanction.kind, sanction.scope, sanction.target, clock_text(sanction.until),
            sanction.reason or "-", sanction.by]


def on_mute(host: Host, msg: wire.Mute) -> None:
    mute = host.services.moderation.mute(msg.name, msg.seconds, host.holder)
    if mute is None:
        tell_admins(host, "mute", f"{msg.name} unmuted", name=msg.name)
        host.send(wire.Ok(message=f"{msg.name} may chat again"))
        return
    tell_admins(host, "mute", f"{msg.name} muted {until_text(mute)}", name=msg.name)
    host.send(wire.Ok(message=f"muted {msg.name} {until_text(mute)}: their chat is refused, "
                      "and nobody else sees it"))


def on_rename(host: Host, msg: wire.Rename) -> None:
    services = host.services
    new = services.moderation.check_name(msg.new)
    same = new.casefold() == msg.name.casefold()
    if not same and services.registry.name_online(new):
        raise Refused("name_taken", f"{new} is playing already: choose another name")
    try:
        account = services.store.rename_user(msg.name, new)
    except NameTaken:
        raise Refused("name_taken", f"{new} is an account already: choose another name") \
            from None
    if not account and not same and services.store.get_user(new) is not None:
        raise Refused("name_taken", f"{new} is an account already: choose another name")
    reached = services.registry.rename(msg.name, new)
    if not account and not reached:
        raise Refused("not_found", f"no player or account {escape(msg.name, 40)!r}")
    what = "account" if account else "player"
    tell_admins(host, "rename", f"{what} {msg.name} renamed {new}", name=new)
    host.send(wire.Ok(message=f"{msg.name} is now {new}" + (
        "" if reached else " (offline: they log in as the new name)")))


HANDLERS: HandlerTable = {
    wire.Ban: on_ban, wire.Unban: on_unban, wire.Bans: on_bans, wire.Mute: on_mute,
    wire.Rename: on_rename,
}
