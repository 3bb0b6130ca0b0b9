"""Secrets out of logged frames: every value under a secret key, at any depth, in any case.

A frame is logged (server ``-v``, the clients' ``client.log``) as its JSON text with the value
of every key named in ``SECRET_KEYS`` replaced by ``"***"``, whatever the value is (a string,
a list, an object) and however the key is written (``Password``, ``PASSWORD``, a JSON escape
such as ``"p\\u0061ssword"``): the text is parsed, not searched.  Duplicate keys are each
redacted.  A frame that is not JSON is never shown, only its size: it could hold a secret in
a form no parser finds.
"""

from __future__ import annotations

import json
from typing import Any

SECRET_KEYS = frozenset(["password", "passwd", "old", "new", "token", "resume_token", "secret"])
MASK = '"***"'


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as its key/value pairs, duplicates kept."""


def _render(value: Any) -> str:
    if isinstance(value, _Pairs):
        return "{" + ",".join(
            f"{json.dumps(key, ensure_ascii=False)}:"
            f"{MASK if key.casefold() in SECRET_KEYS else _render(item)}"
            for key, item in value) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_render(item) for item in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def redact(frame_text: str) -> str:
    """``frame_text`` (a frame's JSON) fit for a log: see the module docstring."""
    try:
        value = json.loads(frame_text, object_pairs_hook=_Pairs)
        return _render(value)
    except (ValueError, RecursionError):
        return f"<{len(frame_text.encode('utf-8', 'replace'))} bytes that are not JSON, " \
               "not shown>"
