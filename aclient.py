"""guessnet admin client: live events, listings and moderation, over mutual TLS.

    python aclient.py                      # certs/admin.pem and admin.key, 127.0.0.1:4001
    python aclient.py --watch              # events only, one per line (for piping)
    printf 'list\\nstats\\n/q\\n' | python aclient.py

The program is ``guessnet.client.console``; installed, it is the ``guessnet-admin`` command.
"""

import sys

from guessnet.client.console import main

if __name__ == "__main__":
    sys.exit(main())
