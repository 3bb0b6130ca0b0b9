"""Chat: to the player's room (or the lobby) and to one player, with a flood limit.

A room's (or the lobby's) last lines are kept (``storage.base.ChatLog``) and shown to whoever
arrives (``replay``), marked as said earlier.
"""

from __future__ import annotations

import math
import time

from guessnet import wire
from guessnet.services.channels import LOBBY
from guessnet.services.errors import Refused
from guessnet.services.registry import guarded
from guessnet.sessions.place import Place
from guessnet.sessions.player_session import CHAT_MUTE, CHAT_RATE, PlayerSession
from guessnet.sessions.session import Handler
from guessnet.storage.base import BackendError, room_channel
from guessnet.support.logs import escape, log
from guessnet.wire.text import clean_text


def on_say(session: PlayerSession, msg: wire.Say) -> None:
    name = session.need_name()
    text = chat_text(session, msg.text)
    if session.place in (Place.ROOM, Place.WATCHING) and session.room is not None:
        channel, room = room_channel(session.room), session.room
    else:
        channel, room = LOBBY, LOBBY
    services = session.services
    chat = wire.Chat(sender=name, text=text, room=room)
    services.channels.publish(channel, chat)
    guarded("chat log", lambda: services.chatlog.add(channel, chat.to_dict()))
    services.channels.admin_event("chat", f"{name} in {room}: {text}", "GAME", name=name,
                                  room=room)


def replay(session: PlayerSession, channel: str) -> None:
    """Show the player arriving in ``channel`` its last lines, marked as said earlier (a
    chat log that cannot be read is logged and skipped: nobody waits for it)."""
    try:
        lines = session.services.chatlog.recent(channel)
    except BackendError as exc:
        log("ERROR", f"chat log of {escape(channel)}: {escape(exc)}")
        return
    for line in lines:
        session.send(wire.Chat(sender=line["sender"], text=line["text"], room=line.get("room"),
                               earlier=True))


def on_msg(session: PlayerSession, msg: wire.DirectMessage) -> None:
    name = session.need_name()
    text = chat_text(session, msg.text)
    chat = wire.Chat(sender=name, text=text, private=True)
    if not session.services.channels.deliver_to(msg.to, chat):
        raise Refused("not_online", f"{escape(msg.to, 40)} is not online: 'who' lists "
                      "the players online")
    session.send(wire.Ok(message=f"(to {msg.to}) {text}"))


def chat_text(session: PlayerSession, raw: str) -> str:
    """The text to send, or ``Refused`` when the player floods (warned once, then muted)."""
    now = time.monotonic()
    if now < session.muted_until:
        raise Refused("muted", f"you are muted for flooding: wait "
                      f"{math.ceil(session.muted_until - now)} s")
    if not session.chat_bucket.take(now):
        if session.chat_warned:
            session.muted_until = now + CHAT_MUTE
            session.chat_warned = False
            raise Refused("muted", f"muted for {CHAT_MUTE:.0f} s: more than "
                          f"{CHAT_RATE:.0f} chat messages a second")
        session.chat_warned = True
        raise Refused("flood", f"slow down: at most {CHAT_RATE:.0f} chat messages a "
                      "second, or you will be muted")
    text = clean_text(raw)
    if not text:
        raise Refused("empty", "nothing to send: type some text after 'say'")
    session.services.moderation.check_chat(session.need_name(), text)
    return text


HANDLERS: dict[type[wire.Message], Handler] = {
    wire.Say: on_say, wire.DirectMessage: on_msg,
}
