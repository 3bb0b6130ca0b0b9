"""One CPU for a server process's threads (``--pin-cpu``).

The interpreter lock lets one thread run Python at a time, and a thread per connection hands
it over at every system call.  With the threads free to run on any core, each hand-off wakes
the next thread on whichever core the kernel picks: a wake-up across cores (an interrupt
between them, and in a virtual machine an exit to the hypervisor), for a lock only one of them
can hold.  On one core the same hand-offs are plain switches between threads; measured with
2,000 to 3,000 players, a guess costs about a quarter less CPU and the latency's tail shrinks
tenfold (docs/perf/HISTORY.md, eighth pass).  What runs outside the lock for long, password
hashing, runs on the other cores (``widen_this_thread``).

``auto`` (the default) keeps the process on the CPU the kernel started it on, when it may use
more than one; a number names the CPU; ``off`` leaves the threads free.  Linux only
(``os.sched_setaffinity``): elsewhere nothing is done.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

AUTO, OFF = "auto", "off"
# The interpreter's switch interval with the threads on one CPU: the threads waiting for the
# lock wake to ask for it ten times less often than at Python's 5 ms (docs/perf/HISTORY.md)
PINNED_SWITCH_MS = 50.0
Setting = str | int


class PinError(Exception):
    """The CPU asked for cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class Placement:
    """Where the process's threads run: ``cpu`` for the game, ``others`` for helpers whose
    work runs outside the interpreter lock (empty: there is no other)."""

    cpu: int
    others: frozenset[int]


_placement: Placement | None = None


def setting(text: str) -> Setting:
    """``--pin-cpu``'s value: ``auto``, ``off`` or a CPU number (argparse's ``type``)."""
    if text in (AUTO, OFF):
        return text
    if text.isdigit():
        return int(text)
    raise argparse.ArgumentTypeError(f"'{text}' is not auto, off or a CPU number")


def usable() -> frozenset[int]:
    """The CPUs this process may run on (empty where the platform cannot tell or pin)."""
    if not hasattr(os, "sched_getaffinity"):
        return frozenset()
    return frozenset(os.sched_getaffinity(0))


def current() -> int | None:
    """The CPU this thread runs on now (``/proc/self/stat``), or None where unknown."""
    try:
        text = Path("/proc/thread-self/stat").read_text()
    except OSError:
        return None
    fields = text.rpartition(")")[2].split()  # (the name in parentheses may hold spaces)
    return int(fields[36]) if len(fields) > 36 and fields[36].isdigit() else None


def choose(wanted: Setting, cpus: frozenset[int], now: int | None) -> int | None:
    """The CPU to pin to, or None to leave the threads free (pure).  Raises ``PinError``
    for a CPU this process may not use."""
    if wanted == OFF or not cpus:
        return None
    if isinstance(wanted, int):
        if wanted not in cpus:
            raise PinError(f"--pin-cpu {wanted}: this process may run on CPUs "
                           f"{describe(cpus)} only; name one of them, or use auto or off")
        return wanted
    if len(cpus) < 2:
        return None  # one CPU already: nothing to gain
    return now if now in cpus else max(cpus)


def pin(wanted: Setting) -> Placement | None:
    """Move every thread of this process to the chosen CPU (threads started later inherit
    it); return where they run, or None when they stay free."""
    global _placement
    cpus = usable()
    cpu = choose(wanted, cpus, current())
    if cpu is None:
        return None
    try:
        for task in os.listdir("/proc/self/task"):
            try:
                os.sched_setaffinity(int(task), {cpu})
            except ProcessLookupError:  # a thread that ended meanwhile
                continue
    except OSError as exc:
        raise PinError(f"--pin-cpu: cannot keep the threads on CPU {cpu}: "
                       f"{exc.strerror or exc} (--pin-cpu off leaves them free)") from exc
    _placement = Placement(cpu, cpus - {cpu})
    return _placement


def set_switch_interval(pinned: bool, asked_ms: float | None = None) -> None:
    """Set the interpreter's switch interval: ``asked_ms`` when given, else
    ``PINNED_SWITCH_MS`` with the threads on one CPU; else Python's own stays."""
    ms = asked_ms if asked_ms is not None else PINNED_SWITCH_MS if pinned else None
    if ms is not None:
        sys.setswitchinterval(ms / 1000)


def widen_this_thread() -> None:
    """Let the calling thread run on the CPUs the game's threads leave free (a helper whose
    work runs outside the interpreter lock); nothing when the process is not pinned."""
    placement = _placement
    if placement is not None and placement.others:
        os.sched_setaffinity(0, placement.others)


def worker_cpu(index: int, cpus: frozenset[int]) -> int | None:
    """The CPU of worker ``index`` (1-based) of ``--workers``: each its own, in turn."""
    if len(cpus) < 2:
        return None
    ordered = sorted(cpus)
    return ordered[(index - 1) % len(ordered)]


def describe(cpus: frozenset[int]) -> str:
    """``0-3`` or ``0,2,5``: a set of CPUs as the kernel lists them."""
    ordered = sorted(cpus)
    if ordered and ordered == list(range(ordered[0], ordered[-1] + 1)) and len(ordered) > 1:
        return f"{ordered[0]}-{ordered[-1]}"
    return ",".join(str(cpu) for cpu in ordered)
