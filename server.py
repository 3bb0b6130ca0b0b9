"""guessnet server: a TLS player port, a mutual-TLS admin port and the web scoreboard.

    python server.py                       # players on 127.0.0.1:4000, admin on 127.0.0.1:4001
    python server.py --host 0.0.0.0        # players from the LAN (admin stays on 127.0.0.1)
    python server.py --replay [ID]         # list or replay stored games, server not started
    python server.py --issue-admin-cert bob  # certificate for an admin on another machine

Each port is a ``socketserver.ThreadingTCPServer`` subclass (``guessnet.net.listener``); one
handler thread per connection does the TLS handshake under a deadline and then runs that
connection's session (``guessnet.launch.runtime``).  The program is ``guessnet.launch.serve``;
installed, it is the ``guessnet-server`` command.
"""

import sys

from guessnet.launch.serve import main

if __name__ == "__main__":
    sys.exit(main())
