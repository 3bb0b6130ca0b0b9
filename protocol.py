"""guessnet wire protocol: length-prefixed JSON frames carrying typed messages.

A frame is a 4-byte big-endian unsigned payload length followed by that many bytes (at most
4096) of UTF-8 JSON: one object with a string ``type`` and the fields of that message type.
The protocol is pure (no socket, no ssl): a ``FrameDecoder`` is fed bytes and hands back
validated, typed messages; ``encode`` turns a message into one frame.  The contract is
docs/PROTOCOL.md.

The implementation lives in the ``guessnet.wire`` package (``messages``: the types; ``codec``:
validation and framing), so that an installed client carries it inside its one package; this
module is its name at the top of the repository: ``import protocol`` then ``protocol.Hello``.
"""

from guessnet.wire import *  # noqa: F403
from guessnet.wire import __all__ as __all__
