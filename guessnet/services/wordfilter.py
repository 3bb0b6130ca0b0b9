"""The host's word filter (``--word-filter FILE``): names, room names and chat it refuses.

The file has one word or pattern a line; blank lines and lines starting with ``#`` are
skipped.  A word matches wherever it appears in a text once both are *folded*: letter case
ignored, accents dropped, digits and signs read as the letters they stand for (``4``/``@`` a,
``3`` e, ``1``/``!`` i, ``0`` o, ``5``/``$`` s, ``7`` t, ...), everything but letters removed,
and a letter repeated in a row counted once.  So ``Bad``, ``b4d``, ``b.a.d`` and ``baaad`` all
match the word ``bad``.  A line starting with ``re:`` is a regular expression tried on the
folded text.  The caller refuses what matches without repeating it.  Pure: no I/O but
``load``.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

LEET = str.maketrans({"0": "o", "1": "i", "!": "i", "|": "i", "2": "z", "3": "e", "4": "a",
                      "@": "a", "5": "s", "$": "s", "6": "g", "7": "t", "8": "b", "9": "g",
                      "+": "t"})
_NOT_LETTERS = re.compile(r"[^a-z]+")
_REPEATS = re.compile(r"(.)\1+")


class FilterFileError(Exception):
    """The word filter's file cannot be read or holds a bad pattern; the message says which."""


def fold(text: str) -> str:
    """``text`` as the filter reads it (see the module docstring)."""
    plain = "".join(ch for ch in unicodedata.normalize("NFKD", text.casefold())
                    if not unicodedata.combining(ch))
    return _REPEATS.sub(r"\1", _NOT_LETTERS.sub("", plain.translate(LEET)))


class WordFilter:
    """Callers use ``blocks``; ``load`` reads a file."""

    def __init__(self, words: list[str], patterns: list[re.Pattern[str]]) -> None:
        self.words = [w for w in (fold(word) for word in words) if w]
        self.patterns = patterns

    @classmethod
    def load(cls, path: Path) -> WordFilter:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise FilterFileError(f"cannot read the word filter {path}: {exc}") from None
        words, patterns = [], []
        for number, line in enumerate(lines, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("re:"):
                try:
                    patterns.append(re.compile(line[3:].strip()))
                except re.error as exc:
                    raise FilterFileError(f"{path}, line {number}: not a pattern ({exc})") \
                        from None
            else:
                words.append(line)
        return cls(words, patterns)

    def blocks(self, text: str) -> bool:
        folded = fold(text)
        return any(word in folded for word in self.words) or \
            any(pattern.search(folded) for pattern in self.patterns)
