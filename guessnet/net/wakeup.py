"""How one thread wakes a connection's owner thread asleep in ``poll()``: two implementations.

Every connection has an eventfd that its owner polls together with its socket; another thread
that queued frames for it writes 1 to the eventfd, and the owner drains it when it wakes.  Both
implementations do exactly that; they differ in what they cost under one GIL:

* ``PortableWakeup`` uses ``os.eventfd_write``/``os.eventfd_read``, which release the GIL
  around their (never blocking, sub-microsecond) system calls.  Correct everywhere Python has
  ``os.eventfd``; the clients use it.
* ``GilHoldingWakeup`` calls libc's ``eventfd_write``/``eventfd_read`` through
  ``ctypes.PyDLL``, which keeps the GIL (the eventfd is non-blocking, so neither call can
  block), and raises the interpreter's switch interval while one thread wakes many.  Measured
  on the benchmark's fan-out to 1,000 members: queueing a round end took 180 ms with the
  GIL-releasing calls (each release handed the GIL to a woken thread) and waking took
  100-340 ms with the default 5 ms switch interval, against 2.5 ms and 15-20 ms this way.

Nothing happens at import: the server picks one by name (``--wakeup``, or the environment
variable ``GUESSNET_WAKEUP``) and hands it to every connection.
"""

from __future__ import annotations

import abc
import contextlib
import ctypes
import errno
import os
import sys
import threading
from collections.abc import Callable, Iterator

BURST = 64  # a fan-out to more connections than this counts as a burst


class WakeupUnavailable(Exception):
    """The chosen wake-up implementation cannot run on this platform; the message says why."""


class Wakeup(abc.ABC):
    """Callers use ``wake``, ``drain`` and ``burst``; implementations override all three."""

    name: str

    @abc.abstractmethod
    def wake(self, fd: int) -> None:
        """Make ``fd`` (a non-blocking eventfd) readable."""

    @abc.abstractmethod
    def drain(self, fd: int) -> None:
        """Make ``fd`` unreadable again (nothing happens if it already is)."""

    def burst(self, count: int) -> contextlib.AbstractContextManager[None]:
        """Wrap a loop that wakes ``count`` owners one after another."""
        return contextlib.nullcontext()


class PortableWakeup(Wakeup):
    name = "portable"

    def wake(self, fd: int) -> None:
        os.eventfd_write(fd, 1)

    def drain(self, fd: int) -> None:
        with contextlib.suppress(BlockingIOError):
            os.eventfd_read(fd)


class GilHoldingWakeup(Wakeup):
    name = "gil-holding"

    def __init__(self, burst_interval: float = 0.5) -> None:
        try:
            libc = ctypes.PyDLL(None, use_errno=True)
            libc_write, libc_read = libc.eventfd_write, libc.eventfd_read
        except (OSError, AttributeError) as exc:
            raise WakeupUnavailable(f"this C library has no eventfd_write/eventfd_read ({exc}):"
                                    " use --wakeup portable") from None
        libc_write.argtypes = [ctypes.c_int, ctypes.c_uint64]
        libc_write.restype = ctypes.c_int
        libc_read.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_uint64)]
        libc_read.restype = ctypes.c_int
        self._write: Callable[[int, int], int] = libc_write
        self._read: Callable[[int, object], int] = libc_read
        self._counter = ctypes.c_uint64()  # the value read is not used: one buffer for all
        self._counter_ref = ctypes.byref(self._counter)
        self._burst_interval = burst_interval
        self._switch_lock = threading.Lock()
        self._switch_users = 0
        self._switch_saved = sys.getswitchinterval()

    @staticmethod
    def _check(result: int) -> None:
        if result != 0:
            code = ctypes.get_errno()
            # EAGAIN: the counter is full (writing) or already drained (reading); both fine
            if code != errno.EAGAIN:
                raise OSError(code, os.strerror(code))

    def wake(self, fd: int) -> None:
        self._check(self._write(fd, 1))

    def drain(self, fd: int) -> None:
        self._check(self._read(fd, self._counter_ref))

    def burst(self, count: int) -> contextlib.AbstractContextManager[None]:
        return self._unpreempted() if count > BURST else contextlib.nullcontext()

    @contextlib.contextmanager
    def _unpreempted(self) -> Iterator[None]:
        """Raise the interpreter's switch interval while this thread wakes many others.

        Each wake-up costs ~15 us in the kernel, so waking 1,000 members takes ~15 ms: longer
        than the default 5 ms switch interval, after which the first woken thread forces the
        waker off the GIL, and the waker then queues behind every thread it woke.  Threads
        woken meanwhile wait for the waker, which gives the GIL up at its next system call;
        nested and concurrent bursts share one saved value, restored by the last to leave."""
        with self._switch_lock:
            if self._switch_users == 0:
                self._switch_saved = sys.getswitchinterval()
                sys.setswitchinterval(max(self._burst_interval, self._switch_saved))
            self._switch_users += 1
        try:
            yield
        finally:
            with self._switch_lock:
                self._switch_users -= 1
                if self._switch_users == 0:
                    sys.setswitchinterval(self._switch_saved)


IMPLEMENTATIONS: dict[str, Callable[[], Wakeup]] = {
    PortableWakeup.name: PortableWakeup,
    GilHoldingWakeup.name: GilHoldingWakeup,
}
DEFAULT = GilHoldingWakeup.name
ENVIRONMENT = "GUESSNET_WAKEUP"


def choose(name: str | None = None) -> Wakeup:
    """The implementation called ``name`` (default: ``$GUESSNET_WAKEUP``, else ``DEFAULT``)."""
    chosen = name or os.environ.get(ENVIRONMENT) or DEFAULT
    make = IMPLEMENTATIONS.get(chosen)
    if make is None:
        raise WakeupUnavailable(f"unknown wake-up {chosen!r}: choose one of "
                                f"{', '.join(IMPLEMENTATIONS)}")
    return make()
