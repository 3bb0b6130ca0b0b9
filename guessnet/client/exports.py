"""The admin console's export files: the server's ``export:`` tables written as CSV.

``export FILE`` writes the games to FILE and the leaderboards beside it (``results.csv`` and
``results-leaders.csv``), in UTF-8 with a byte-order mark and a header row, so a spreadsheet
opens them as they are.  The columns are those of the tables (docs/PROTOCOL.md).
"""

from __future__ import annotations

import csv
from pathlib import Path

from guessnet import wire

GAMES, LEADERS = "export: games", "export: leaders"


def leaders_path(path: Path) -> Path:
    """``results.csv`` -> ``results-leaders.csv`` (``results`` -> ``results-leaders.csv``)."""
    return path.with_name(f"{path.stem}-leaders{path.suffix or '.csv'}")


class ExportFiles:
    """Collects the parts of the export tables and writes each file when its last part
    arrives; ``expecting`` says where the next export goes."""

    def __init__(self) -> None:
        self.path: Path | None = None
        self._rows: dict[str, list[tuple[wire.Scalar, ...]]] = {}

    def expecting(self, path: Path) -> None:
        self.path = path
        self._rows.clear()

    def take(self, part: wire.Table) -> str | None:
        """Keep ``part`` if it belongs to an export; the line to print once a file is written
        (or could not be), else None."""
        rows = self._rows.setdefault(part.title, [])
        rows.extend(part.rows)
        if not part.last or self.path is None:
            return None
        target = self.path if part.title == GAMES else leaders_path(self.path)
        del self._rows[part.title]
        try:
            with target.open("w", encoding="utf-8-sig", newline="") as out:
                writer = csv.writer(out)
                writer.writerow(part.columns)
                writer.writerows(["" if cell is None else cell for cell in row] for row in rows)
        except OSError as exc:
            return f"Could not write {target}: {exc.strerror or exc}"
        what = "games" if part.title == GAMES else "leaderboard rows"
        return f"Wrote {len(rows)} {what} to {target}."

    @staticmethod
    def belongs(part: wire.Table) -> bool:
        return part.title in (GAMES, LEADERS)
