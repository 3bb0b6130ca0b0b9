"""Password hashing with a bound and a fair queue: an account's attackers cannot starve its owner.

One scrypt hash (n=2**14, r=8) takes 16 MiB and tens of milliseconds of CPU.  At most
``workers`` hashes run at once, always in the same threads (so at most ``workers`` malloc
arenas ever hold a hash's memory).  What waits is queued in two classes (``HashQueue``):

* **clean logins**, from an address with no recent failure and no other attempt in progress
  (``services.Logins.clean``), go first.  They are never refused for load: they wait for a
  worker.  They queue by account, the accounts taking turns, and within an account the newest
  goes first: attackers hammering an account from fresh addresses (each address is clean only
  for its first try) cannot keep its owner waiting beyond the attempts that arrive after the
  owner's, and attackers of other accounts only take their turns.  Logins to names that are
  not accounts share one turn.
* **everything else** (registrations, password changes, logins from addresses that failed)
  is served when no clean login waits, the accounts taking turns, oldest first within one;
  at most ``PER_ACCOUNT`` wait per account and ``waiting`` in all, each for at most
  ``patience`` seconds, else ``HashingBusy``.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from guessnet.services import passwords
from guessnet.support import cpus

T = TypeVar("T")
DEFAULT_WORKERS = os.cpu_count() or 2
PER_ACCOUNT = 8
UNKNOWN = "\x00unknown"  # the turn of every name that is not an account
BUSY = "the server is busy checking passwords: try again in a few seconds"


class HashingBusy(Exception):
    """Too many password checks are waiting; the message says what to do."""


@dataclass(frozen=True)
class Asker:
    """Who asks for a hash: the account (casefolded, or ``UNKNOWN``) and whether the request
    is a clean login (see the module docstring)."""

    account: str
    clean: bool = False


@dataclass(eq=False)
class Job(Generic[T]):
    work: Callable[[], T]
    asker: Asker
    queued: float
    started: bool = False
    cancelled: bool = False
    result: Any = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


class HashQueue:
    """The two classes of the module docstring; pure bookkeeping, the caller locks."""

    def __init__(self, waiting: int) -> None:
        self.waiting = waiting
        self._clean: dict[str, deque[Job[Any]]] = {}
        self._other: dict[str, deque[Job[Any]]] = {}
        self.others = 0

    def put(self, job: Job[Any]) -> bool:
        """Queue ``job``; False when its class has no room for it (never for a clean one)."""
        if job.asker.clean:
            self._clean.setdefault(job.asker.account, deque()).append(job)
            return True
        line = self._other.get(job.asker.account)
        if self.others >= self.waiting or (line is not None and len(line) >= PER_ACCOUNT):
            return False
        self._other.setdefault(job.asker.account, deque()).append(job)
        self.others += 1
        return True

    def take(self) -> Job[Any] | None:
        """The next job to run: the next account's newest clean login, else the next
        account's oldest other job (accounts take turns in each class)."""
        for lines, newest in ((self._clean, True), (self._other, False)):
            while lines:
                account = next(iter(lines))
                line = lines.pop(account)
                job = line.pop() if newest else line.popleft()
                if line:
                    lines[account] = line  # back of the round
                if not newest:
                    self.others -= 1
                if not job.cancelled:
                    return job
        return None

    def withdraw(self, job: Job[Any]) -> None:
        """``job``'s caller gave up before it started."""
        lines = self._clean if job.asker.clean else self._other
        line = lines.get(job.asker.account)
        if line is not None and job in line:
            line.remove(job)
            if not job.asker.clean:
                self.others -= 1
            if not line:
                del lines[job.asker.account]


class PasswordHashing:
    """Callers use ``hash``, ``verify`` and ``close``; the workers start with the first job."""

    def __init__(self, workers: int = DEFAULT_WORKERS, waiting: int = 64,
                 patience: float = 8.0) -> None:
        if workers < 1:
            raise ValueError(f"password hashing needs at least one worker, not {workers}")
        self.workers = workers
        self._queue = HashQueue(waiting)
        self._patience = patience
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._threads: list[threading.Thread] = []
        self._closed = False

    def hash(self, password: str, asker: Asker) -> str:
        return self._run(lambda: passwords.hash_password(password), asker)

    def verify(self, password: str, stored: str, asker: Asker) -> bool:
        return self._run(lambda: passwords.verify_password(password, stored), asker)

    def _run(self, work: Callable[[], T], asker: Asker) -> T:
        job: Job[T] = Job(work, asker, time.monotonic())
        with self._lock:
            if self._closed or not self._queue.put(job):
                raise HashingBusy(BUSY)
            if len(self._threads) < self.workers:
                thread = threading.Thread(target=self._work, name="scrypt", daemon=True)
                self._threads.append(thread)
                thread.start()
            self._ready.notify()
        if not job.done.wait(None if asker.clean else self._patience):
            with self._lock:
                if not job.started:
                    job.cancelled = True
                    self._queue.withdraw(job)
                    raise HashingBusy(BUSY)
            job.done.wait()  # started meanwhile: a few tens of milliseconds
        if job.error is not None:
            raise job.error
        result: T = job.result
        return result

    def _work(self) -> None:
        cpus.widen_this_thread()  # scrypt runs outside the interpreter lock: other cores
        while True:
            with self._lock:
                job = self._queue.take()
                while job is None:
                    if self._closed:
                        return
                    self._ready.wait()
                    job = self._queue.take()
                job.started = True
            try:
                job.result = job.work()
            except BaseException as exc:  # handed to the caller, raised there
                job.error = exc
            job.done.set()

    def close(self) -> None:
        """Refuse what waits, let the workers finish what runs, and stop them."""
        with self._lock:
            self._closed = True
            while (job := self._queue.take()) is not None:
                job.error = HashingBusy("the server is shutting down")
                job.done.set()
            self._ready.notify_all()
        for thread in self._threads:
            thread.join(timeout=5)
