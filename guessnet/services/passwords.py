"""Passwords: scrypt hashes and the login throttle (pure, the clock handed in)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


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
    """Failed logins slow down whoever failed, never anyone else (the clock is handed in).

    Two keys count failures: the pair (account, address) that tried, and the address alone
    (across every account).  A pair's first ``free`` failures cost nothing; each further one
    makes that pair wait ``base * 2**(n-1)`` seconds, at most ``cap``.  An address gets
    ``address_free`` failures across all accounts before the same growing wait applies to
    everything it tries.  So an attacker elsewhere never slows the owner down, and one
    address brute-forcing an account gets ``free`` guesses, then one a minute at most.

    ``attempt`` charges both keys *before* the password is checked (simultaneous attempts
    cannot slip past the count); ``succeeded`` refunds the charge and forgets the pair's
    failures.  A key quiet for ``forget`` seconds is forgotten.
    """

    free: int = 5
    address_free: int = 20
    base: float = 1.0
    cap: float = 60.0
    forget: float = 900.0
    _keys: dict[str, _Failures] = field(default_factory=dict)

    @staticmethod
    def keys(account: str, address: str) -> tuple[str, str]:
        return f"pair:{account.casefold()}@{address}", f"address:{address}"

    def _entry(self, key: str, now: float) -> _Failures | None:
        entry = self._keys.get(key)
        if entry is not None and now - entry.last > self.forget:
            del self._keys[key]
            return None
        return entry

    def clean(self, address: str, now: float) -> bool:
        """Whether ``address`` has no failure on record: none recent, none in progress (an
        attempt counts as a failure until it succeeds)."""
        entry = self._entry(f"address:{address}", now)
        return entry is None or entry.count == 0

    def wait_time(self, account: str, address: str, now: float) -> float:
        """Seconds before ``address`` may try ``account`` again (0 when it may now)."""
        waits = [0.0]
        for key in self.keys(account, address):
            entry = self._entry(key, now)
            if entry is not None:
                waits.append(entry.blocked_until - now)
        return max(waits)

    def attempt(self, account: str, address: str, now: float) -> float:
        """Charge an attempt as a failure and return 0, or return the seconds to wait (then
        nothing is charged)."""
        wait = self.wait_time(account, address, now)
        if wait > 0:
            return wait
        for key, free in zip(self.keys(account, address), (self.free, self.address_free),
                             strict=True):
            entry = self._keys.setdefault(key, _Failures())
            entry.count += 1
            entry.last = now
            beyond = entry.count - free
            if beyond > 0:
                entry.blocked_until = now + min(self.cap, self.base * 2 ** (beyond - 1))
        return 0.0

    def refund(self, account: str, address: str) -> None:
        """The attempt charged last was not a failure (the password was never checked)."""
        for key, free in zip(self.keys(account, address), (self.free, self.address_free),
                             strict=True):
            entry = self._keys.get(key)
            if entry is not None:
                entry.count = max(0, entry.count - 1)
                if entry.count <= free:
                    entry.blocked_until = 0.0

    def succeeded(self, account: str, address: str) -> None:
        """The attempt charged last was right: refund it and forget the pair's failures."""
        self.refund(account, address)
        self._keys.pop(self.keys(account, address)[0], None)
