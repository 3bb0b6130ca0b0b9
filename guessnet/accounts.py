"""Accounts: name rules, scrypt password hashes, and login throttling (pure, clock handed in)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field

NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,20}")
NAME_RULE = "1-20 letters, digits, '_' or '-'"
PASSWORD_MIN = 6
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


class NameInvalid(ValueError):
    """A player-chosen name breaks the name rule."""


def check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name):
        raise NameInvalid(f"{name[:40]!r} is not a valid name: use {NAME_RULE}")
    return name


def check_password(password: str) -> None:
    if len(password) < PASSWORD_MIN:
        raise ValueError(f"a password needs at least {PASSWORD_MIN} characters")


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash`` with a fresh 16-byte salt (base64 parts)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R,
                            p=SCRYPT_P, dklen=32)
    return "$".join(["scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P),
                     base64.b64encode(salt).decode(), base64.b64encode(digest).decode()])


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of ``password`` against a stored hash (its own parameters)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt),
                                n=int(n), r=int(r), p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


@dataclass
class _Failures:
    count: int = 0
    blocked_until: float = 0.0
    last: float = 0.0


@dataclass
class Throttle:
    """Growing delay after ``free`` failed logins per key (account name, peer address).

    The n-th failure beyond ``free`` blocks further attempts for ``base * 2**(n-1)`` seconds,
    capped at ``cap``; the count is forgotten after ``forget`` quiet seconds and reset by a
    success, so an attacker can slow a legitimate user down by ``cap`` at most, never lock them
    out for good.
    """

    free: int = 5
    base: float = 1.0
    cap: float = 60.0
    forget: float = 900.0
    _keys: dict[str, _Failures] = field(default_factory=dict)

    def wait_time(self, keys: list[str], now: float) -> float:
        """Seconds before an attempt for these keys is allowed (0 when allowed now)."""
        waits = [0.0]
        for key in keys:
            entry = self._keys.get(key)
            if entry is not None and now - entry.last > self.forget:
                del self._keys[key]
            elif entry is not None:
                waits.append(entry.blocked_until - now)
        return max(waits)

    def failed(self, keys: list[str], now: float) -> None:
        for key in keys:
            entry = self._keys.setdefault(key, _Failures())
            entry.count += 1
            entry.last = now
            beyond = entry.count - self.free
            if beyond > 0:
                entry.blocked_until = now + min(self.cap, self.base * 2 ** (beyond - 1))

    def succeeded(self, keys: list[str]) -> None:
        for key in keys:
            self._keys.pop(key, None)
