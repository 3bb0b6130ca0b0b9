"""guessnet player client.

    python pclient.py                      # connect to 127.0.0.1:4000, verify with certs/ca.pem
    printf 'alice\\n1\\n5\\n3\\nexit\\n/q\\n' | python pclient.py   # scripted

Messages from the server are printed the moment they arrive, above the line being typed.  The
program is ``guessnet.client.play``; installed, it is the ``guessnet-play`` command.
"""

import sys

from guessnet.client.play import main

if __name__ == "__main__":
    sys.exit(main())
