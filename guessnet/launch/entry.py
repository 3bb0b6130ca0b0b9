"""``guessnet-server``: the server program, or one line when the server's libraries are missing.

A player's install (``pip install guessnet``) has the clients' libraries only; the server's
come with ``pip install "guessnet[server]"``.  This entry point says so instead of a traceback.
"""

from __future__ import annotations

import sys

SERVER_LIBRARIES = frozenset({"cryptography", "redis", "memcache", "prometheus_client", "segno"})


def main(argv: list[str] | None = None) -> int:
    try:
        from guessnet.launch import serve
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in SERVER_LIBRARIES:
            raise
        print(f"the server needs libraries this install does not have ({exc.name}): "
              'install them with pip install "guessnet[server]"', file=sys.stderr)
        return 1
    return serve.main(argv)
