"""The player client as one file, built by the server for its join page: ``guessnet-play.pyz``.

A Python zip application (``zipapp``): the client's packages of guessnet (the layers a client
may import: ``client``, ``wire``, ``net``, ``support``, ``games``), the pure-Python libraries it
uses (prompt_toolkit and wcwidth, tabulate, platformdirs) with their licences, and a
``__main__`` that runs ``guessnet.client.play``.  A student with Python 3.11 runs it as is,
with no pip, no network and nothing of the server::

    python3 guessnet-play.pyz --host SERVER --port 4000 --cafile ca.pem

It is built once, from the files this server runs, on the first request; the join page gives
its SHA-256 so a careful player can check the download.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import io
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]  # guessnet/
CLIENT_PARTS = ("client", "wire", "net", "support", "games")
LIBRARIES = {  # import name -> distribution name (for its licence files)
    "prompt_toolkit": "prompt_toolkit", "wcwidth": "wcwidth", "tabulate": "tabulate",
    "platformdirs": "platformdirs",
}
FILENAME = "guessnet-play.pyz"
MAIN = b'''"""guessnet player client, in one file: python3 guessnet-play.pyz --help"""
import sys

if sys.version_info < (3, 11):
    sys.exit("guessnet-play needs Python 3.11 or newer (this is %d.%d)" % sys.version_info[:2])

from guessnet.client.play import main

sys.exit(main())
'''


@dataclass(frozen=True)
class Bundle:
    data: bytes
    sha256: str

    @property
    def size_text(self) -> str:
        return f"{len(self.data) / 1_000_000:.1f} MB"


def _python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def _library_files(name: str) -> list[tuple[Path, str]]:
    """(file, name in the archive) of an installed pure-Python library and its licences."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{name} is not installed as a package")
    root = Path(next(iter(spec.submodule_search_locations)))
    files = [(p, f"{name}/{p.relative_to(root).as_posix()}") for p in sorted(root.rglob("*"))
             if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"]
    try:
        dist = importlib.metadata.distribution(LIBRARIES[name])
    except importlib.metadata.PackageNotFoundError:
        return files
    for entry in dist.files or ():
        if "licen" in entry.name.lower() or "copying" in entry.name.lower():
            located = Path(str(dist.locate_file(entry)))
            if located.is_file():
                files.append((located, f"licences/{name}/{entry.name}"))
    return files


def build() -> Bundle:
    buffer = io.BytesIO()
    buffer.write(b"#!/usr/bin/env python3\n")  # as zipapp writes it: the zip follows
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("__main__.py", MAIN)
        archive.write(PACKAGE / "__init__.py", "guessnet/__init__.py")
        for part in CLIENT_PARTS:
            for path in _python_files(PACKAGE / part):
                archive.write(path, f"guessnet/{path.relative_to(PACKAGE).as_posix()}")
        for name in LIBRARIES:
            for path, inside in _library_files(name):
                archive.write(path, inside)
    data = buffer.getvalue()
    return Bundle(data, hashlib.sha256(data).hexdigest())


class ClientBundle:
    """The bundle, built on first use (a fraction of a second) and kept."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bundle: Bundle | None = None

    def get(self) -> Bundle:
        with self._lock:
            if self._bundle is None:
                self._bundle = build()
            return self._bundle
