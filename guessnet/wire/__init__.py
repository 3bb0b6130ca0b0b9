"""The wire: what client and server say to each other, and nothing about sockets.

``schema`` is the ground (the message base class, the registry, the errors),
``messages`` declares every message type (one frozen dataclass each) and ``codec`` turns bytes
into validated messages and messages into frames; this package re-exports all three, so callers
write ``wire.Hello`` and ``wire.encode``.  The rules of what players type (``text``), table
splitting (``tables``) and log redaction (``redaction``) sit beside them.  docs/PROTOCOL.md is
the contract.
"""

from guessnet.wire.codec import *
from guessnet.wire.messages import *
from guessnet.wire.schema import *

# every name of the three modules (tests/test_architecture.py keeps this list whole)
__all__ = ["ADMIN_TO_SERVER", "HEADER", "MAX_INT", "MAX_PAYLOAD", "NAME_MAX", "PLAYER_TO_SERVER",
           "PROTOCOL_VERSION", "REGISTRY", "SERVER_TO_ADMIN", "SERVER_TO_PLAYER", "TEXT_MAX",
           "AdminEvent", "Board", "Bye", "ChangePassword", "Chat", "DirectMessage", "Error",
           "FrameDecoder", "Guess", "Hello", "Hint", "History", "Identified", "Invite",
           "InviteOutcome", "InviteReply", "InviteUpdate", "Invited", "Kick", "Leaders", "Leave",
           "LeftGame", "ListPlayers", "ListRooms", "LocalProtocolError", "Login", "Logout",
           "MatchEnded", "Message", "Mode", "Move", "Notice", "Ok", "Ping", "Play", "Pong",
           "ProtocolError", "Quit", "Register", "RemoteProtocolError", "Replay", "Resign",
           "Resume", "RoomUpdate", "RoundEnded", "RoundStarted", "Say", "Scalar", "SetName",
           "Stats", "Table", "Welcome", "Who", "encode", "encode_built", "from_dict", "name_field",
           "parse_payload", "payload_of", "text_field"]
