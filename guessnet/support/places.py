"""Where the programs keep their files by default.

Run from a checkout of the repository (``python server.py``, ``python pclient.py``), they keep
the repository's folders: ``certs/``, ``data/``, ``logs/``.  Installed (``guessnet-server``,
``guessnet-play``, ``guessnet-admin``), the package sits in a site-packages folder that is no
place for a user's files and may not be writable: they use the per-user folders of the
platform (on Linux, XDG: ``~/.local/share/guessnet`` for certificates and the database,
``~/.local/state/guessnet/logs`` for logs), and a player's CA certificate is the ``ca.pem`` they
downloaded into the current folder.  Every folder can be chosen with an option; the server
prints the ones it uses when it starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import platformdirs

CHECKOUT = Path(__file__).resolve().parents[2]  # the repository, when run from one
APP = "guessnet"


def in_checkout(root: Path = CHECKOUT) -> bool:
    """Whether the package runs from a checkout of the repository (its programs beside it)."""
    return all((root / name).is_file() for name in ("server.py", "pclient.py", "pyproject.toml"))


@dataclass(frozen=True)
class Places:
    """The default folders and files, and how ``--help`` names them."""

    certs: Path         # the server's certificates (the admin's, for aclient)
    data: Path          # the server's SQLite database
    logs: Path          # server.log, audit.log, client.log
    player_ca: Path     # the CA certificate a player's client trusts
    checkout: bool

    def shown(self, path: Path) -> str:
        """``path`` as ``--help`` shows it: relative to the repository when run from it."""
        if self.checkout:
            return f"{path.relative_to(CHECKOUT)}" + ("/" if path.suffix == "" else "")
        return str(path)


def places(root: Path = CHECKOUT) -> Places:
    if in_checkout(root):
        return Places(root / "certs", root / "data", root / "logs", root / "certs" / "ca.pem",
                      checkout=True)
    data = Path(platformdirs.user_data_dir(APP, appauthor=False))
    state = Path(platformdirs.user_state_dir(APP, appauthor=False))
    return Places(data / "certs", data / "data", state / "logs", Path("ca.pem"),
                  checkout=False)
