"""Private folders: what the server and the clients write is readable by their user alone.

The data folder holds password hashes and games, the log folders hold names, addresses and chat:
folders are made (or tightened to) 0700 and their files 0600, and ``private_umask`` makes every
file created later (new databases, WAL files, rotated logs, journals) 0600 from the start.
"""

from __future__ import annotations

import os
from pathlib import Path

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def private_umask() -> None:
    """New files and folders of this process: owner only."""
    os.umask(0o077)


class FolderError(Exception):
    """A folder the program needs cannot be used; the message names it, says why, and which
    option chooses another."""


def private_folder(folder: Path, role: str = "folder", option: str | None = None) -> Path:
    """Make ``folder`` (and its parents) if missing; tighten it to 0700 and its files to
    0600; return it.  ``FolderError`` when it cannot be used (read-only, not a folder, not
    ours), naming it as the ``role`` that ``option`` sets."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, FOLDER_MODE)
        for entry in folder.iterdir():
            if entry.is_file() and not entry.is_symlink():
                os.chmod(entry, FILE_MODE)
        probe = folder / f".write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except FileExistsError:
        raise FolderError(f"cannot use {folder} as the {role}: it is a file, not a folder"
                          + _choose(option)) from None
    except OSError as exc:
        raise FolderError(f"cannot use {folder} as the {role}: "
                          f"{(exc.strerror or str(exc)).lower()}" + _choose(option)) from None
    return folder


def _choose(option: str | None) -> str:
    return f" (choose another with {option})" if option else ""
