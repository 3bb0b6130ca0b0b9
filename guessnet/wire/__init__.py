"""The wire: what client and server say to each other, and nothing about sockets.

``guessnet.wire.messages`` declares every message type (one frozen dataclass each) and
``guessnet.wire.codec`` turns bytes into validated messages and messages into frames; this
package re-exports both, so callers write ``wire.Hello`` and ``wire.encode``.  The name rules
players type against (``text``), table splitting (``tables``) and log redaction
(``redaction``) sit beside them.  docs/PROTOCOL.md is the contract.
"""

from guessnet.wire.codec import *  # noqa: F403
from guessnet.wire.codec import __all__ as __all__
