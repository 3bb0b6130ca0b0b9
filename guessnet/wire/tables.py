"""Listings as ``table`` frames: split to fit the frame limit, peer text escaped."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence

from guessnet import wire
from guessnet.wire.text import escape


def table_frames(title: str, columns: Sequence[str],
                 rows: Iterable[Sequence[wire.Scalar]]) -> list[bytes]:
    """Split a table into as many ``table`` frames as the 4096-byte limit needs."""
    frames: list[bytes] = []
    batch: list[tuple[wire.Scalar, ...]] = []
    budget = wire.MAX_PAYLOAD - 64
    base = len(wire.payload_of(wire.Table(title=title, columns=tuple(columns), rows=())))
    size = base
    for row in rows:
        cells = tuple(escape(c, 200) if isinstance(c, str) else c for c in row)
        row_size = len(json.dumps(cells, ensure_ascii=False).encode("utf-8")) + 1
        if batch and size + row_size > budget:
            frames.append(wire.encode(wire.Table(
                title=title, columns=tuple(columns), rows=tuple(batch), last=False)))
            batch, size = [], base
        batch.append(cells)
        size += row_size
    frames.append(wire.encode(wire.Table(
        title=title, columns=tuple(columns), rows=tuple(batch), last=True)))
    return frames


def since_text(at: float, now: float) -> str:
    """A recent moment, short: the time of day within the last 24 h, else the date."""
    if 0 <= now - at < 86_400:
        return time.strftime("%H:%M:%S", time.localtime(at))
    return time.strftime("%Y-%m-%d", time.localtime(at))


def counted(count: int, noun: str) -> str:
    """``1 room``, ``2 rooms``: a count with its noun (plural by adding s)."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
