"""The wire: what client and server say to each other, and nothing about sockets.

``schema`` is the ground (the message base class, the registry, the errors), ``messages`` and
``hosting`` (the host's toolkit) declare every message type (one frozen dataclass each) and
``codec`` turns bytes into validated messages and messages into frames; this package re-exports
them all, so callers write ``wire.Hello`` and ``wire.encode``.  The rules of what players type
(``text``), table splitting (``tables``), close reasons (``closing``) and log redaction
(``redaction``) sit beside them.  docs/PROTOCOL.md is the contract.
"""

from guessnet.wire.codec import *
from guessnet.wire.hosting import *
from guessnet.wire.messages import *
from guessnet.wire.schema import *

# every name of the three modules (tests/test_architecture.py keeps this list whole)
__all__ = ["ADMIN_TO_SERVER", "HEADER", "MAX_INT", "MAX_PAYLOAD", "NAME_MAX", "PLAYER_TO_SERVER",
           "PROTOCOL_VERSION", "REGISTRY", "SERVER_TO_ADMIN", "SERVER_TO_PLAYER", "TEXT_MAX",
           "AdminEvent", "Ban", "Bans", "Board", "Bye", "ChangePassword", "Chat", "DirectMessage",
           "Error", "Export", "FrameDecoder", "Guess", "Guessed", "Hello", "Hint", "History",
           "Identified", "Invite", "InviteOutcome", "InviteReply", "InviteUpdate", "Invited",
           "Kick", "Leaders", "Leave", "LeftGame", "ListPlayers", "ListRooms",
           "LocalProtocolError", "LockRoom", "Login", "Logout", "MatchEnded", "Message", "Mode",
           "Move", "Mute", "NextRound", "Notice", "Ok", "PauseRoom", "Ping", "Play", "Pong",
           "ProtocolError", "Quit", "Register", "RemoteProtocolError", "Rename", "Replay",
           "Resign", "Resume", "ResumeRoom", "RoomRules", "RoomUpdate", "RoundEnded",
           "RoundStarted", "Say", "Scalar", "SetName", "Stats", "Table", "Unban", "UnlockRoom",
           "Watch", "Welcome", "Who", "encode", "encode_built", "from_dict", "name_field",
           "parse_payload", "payload_of", "payload_parser", "text_field"]
