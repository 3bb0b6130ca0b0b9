"""A connection's mailbox: the frames other threads queue for its owner, and its close request.

Any thread may ``put`` frames (``put_all``: several), ``put_to_all`` (a fan-out), or
``request_close``.  Only the owner thread ``take``s frames, goes to sleep
(``may_sleep``/``woke``) and ``finish``es.  The outbox is bounded in bytes: a peer that stops
reading fills it, and that connection alone is closed as a ``slow reader`` (what was queued is
dropped).  Another thread writes to the socket only through the writer the owner lends while
it sleeps (below), never while the owner uses it.

Waking the owner costs a system call (and, under one GIL, a hand-off), so a sender pokes the
owner's eventfd only while the owner sleeps in ``poll()``, and only once per sleep: the owner
checks the outbox under the lock before it sleeps, so a frame queued while it is awake (a reply
from its own handler, most of the time) needs no wake-up.

Better still, a sender often needs no wake-up at all: while the owner sleeps in ``poll()`` with
nothing left to write, it is not using its socket, and the owner lends the outbox a ``writer``
(``lend_writer``) that another thread may call to write the queued frames itself, in order.
The writer runs only under the outbox's lock and only while the owner sleeps, and the owner
takes that lock (``woke``) before it touches its socket again: the two never use the socket at
the same time, which OpenSSL requires.  A fan-out to a room's members then costs one write per
member from the sender's thread instead of waking every member's thread (each a GIL hand-off).
Whatever the socket does not take at once goes back to the head of the queue and the owner is
woken to finish it, as before.
"""

from __future__ import annotations

import os
import ssl
import threading
from collections import deque
from collections.abc import Callable, Sequence

from guessnet.net.wakeup import Wakeup
from guessnet.wire.closing import Close

LENT_WRITE = 65536  # bytes another thread writes for a sleeping owner at most, per call

# A lent writer returns the bytes the socket took (0, or ``ssl.SSLWantWriteError`` or
# ``SSLWantReadError``: it would block); any other OSError: the connection is broken.
Writer = Callable[[bytes], int]


class Outbox:
    """See the module docstring for which thread may call what."""

    def __init__(self, limit: int, wakeup: Wakeup,
                 on_frame: Callable[[bytes], None] | None = None) -> None:
        self.limit = limit
        self.wake_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._wakeup = wakeup
        self._on_frame = on_frame  # sees every frame queued (the -v wire log)
        self._lock = threading.Lock()
        self._frames: deque[bytes] = deque()
        self._head = b""  # bytes a lent write left unsent: they go first, exactly as they are
        self._bytes = 0
        self._sleeping = False  # the owner is in poll(); only then is it poked
        self._write_blocked = False  # ... with bytes its socket did not take yet
        self._writer: Writer | None = None
        # The writer while another thread may call it (the owner sleeps with nothing of its
        # own to write, unpoked, not closing); None otherwise: one test for a fan-out's
        # member instead of six.  Whatever ends that state clears it (``_poke`` or ``woke``).
        self._lent: Writer | None = None
        self._poked = False
        self._finished = False
        self._close_reason: Close | None = None
        self.queued_total = 0  # frames ever queued (metrics read it; written under the lock)

    # ------------------------------------------------------------------ any thread

    @property
    def close_reason(self) -> Close | None:
        """Why the connection is closing (the first reason given wins), or None."""
        return self._close_reason

    def queued(self) -> list[bytes]:
        """The frames not yet taken by the owner, oldest first."""
        with self._lock:
            return ([self._head] if self._head else []) + list(self._frames)

    def put(self, frame: bytes) -> bool:
        """Queue one encoded frame; False if the connection is closing or was overrun."""
        with self._lock:
            queued = self._enqueue(frame)
            if self._sleeping:  # awake, the owner writes it before it sleeps (a reply)
                self._deliver()
        return queued

    def put_all(self, frames: list[bytes]) -> bool:
        """Queue several frames in one step (a round's end: the hint, the end, the next
        round); False if the connection is closing or was overrun."""
        queued = Outbox._enqueue_each((self,), frames)
        # Read without the lock: an owner that goes to sleep after the frames were queued
        # finds them (``may_sleep``) and stays awake, and ``_deliver`` looks again under it.
        # Awake (its own round's end, most calls), it writes them itself: no second lock.
        if self._sleeping:
            with self._lock:
                self._deliver()
        return queued

    @staticmethod
    def put_to_all(boxes: Sequence[Outbox], frames: list[bytes], wakeup: Wakeup) -> None:
        """Queue ``frames`` on every outbox, then deliver them: written for each sleeping
        owner through its lent writer, or its owner woken.

        Two passes on purpose: the frames are in every outbox within a few milliseconds, so
        whatever happens next (another broadcast, a member's own reply) queues behind them in
        every outbox, in the same order; and an owner woken during the first pass would
        compete for the GIL with the sender for the rest of the loop (with 1,000 members,
        queueing a round end took hundreds of milliseconds that way)."""
        Outbox._enqueue_each(boxes, frames)
        size = sum(map(len, frames))
        blob = b"".join(frames) if size <= LENT_WRITE else None  # (joined once, not per box)
        with wakeup.burst(len(boxes)):
            for box in boxes:
                with box._lock:
                    box._deliver(frames, blob)

    def request_close(self, reason: Close) -> None:
        """Ask the owner to flush what is queued and close; the first reason wins."""
        with self._lock:
            if self._close_reason is None:
                self._close_reason = reason
            self._poke()

    def _enqueue(self, frame: bytes) -> bool:
        """Append ``frame`` (with the lock held); no wake-up."""
        if self._finished or self._close_reason is not None:
            return False
        if self._bytes + len(frame) > self.limit:
            return self._overrun()
        if self._on_frame is not None:
            self._on_frame(frame)
        self._frames.append(frame)
        self._bytes += len(frame)
        self.queued_total += 1
        return True

    @staticmethod
    def _enqueue_each(boxes: Sequence[Outbox], frames: list[bytes]) -> bool:
        """``_enqueue`` every frame on every box, each box in one step under its lock; no
        wake-up.  True if the last box took them.  (One loop for all members, not a call a
        member: a room's fan-out runs it for every member.)"""
        size, count = sum(map(len, frames)), len(frames)
        queued = False
        for box in boxes:
            with box._lock:
                queued = not (box._finished or box._close_reason is not None)
                if not queued:
                    continue
                if box._bytes + size > box.limit:
                    queued = box._overrun()
                    continue
                if box._on_frame is not None:
                    for frame in frames:
                        box._on_frame(frame)
                box._frames.extend(frames)
                box._bytes += size
                box.queued_total += count
        return queued

    def _overrun(self) -> bool:
        """The peer does not read: drop what is queued, close it as a slow reader."""
        self._close_reason = Close.SLOW_READER
        self._lent = None
        self._frames.clear()
        self._bytes = 0
        return False

    def _deliver(self, ours: list[bytes] | None = None, blob: bytes | None = None) -> None:
        """Write the queued frames for a sleeping owner through its lent writer, or wake it
        (with the lock held).  A fan-out passes its frames and, when they fit one write,
        ``blob``, their bytes joined: written as it is when the queue holds those frames and
        nothing else (most members of a room), not joined again for every member."""
        queue = self._frames
        writer = self._lent
        if writer is None or not queue:
            self._poke()
            return
        # The queue is ours alone when it is as long and starts with our first frame: ours
        # were appended together at its tail, and frames leave only from its head.
        if blob is not None and ours is not None and len(queue) == len(ours) and \
                queue[0] is ours[0]:
            queue.clear()
            data = blob
        else:
            chunk = bytearray()
            while queue and len(chunk) + len(queue[0]) <= LENT_WRITE:
                chunk += queue.popleft()
            if not chunk:  # one frame over the limit: the owner writes it
                self._poke()
                return
            data = bytes(chunk)
        try:
            sent = writer(data)
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
            sent = 0
        except OSError:
            self._close_reason = self._close_reason or Close.DROPPED
            self._frames.clear()
            self._bytes = 0
            self._poke()
            return
        self._bytes -= sent
        if sent < len(data):  # the rest first, unchanged (TLS retries the same bytes)
            self._head = data[sent:]
            self._poke()
        elif self._frames:
            self._poke()

    def _poke(self) -> None:
        """Wake the owner if it sleeps and nobody woke it yet (with the lock held)."""
        self._lent = None
        if self._sleeping and not self._poked and not self._finished:
            self._poked = True
            self._wakeup.wake(self.wake_fd)

    # ------------------------------------------------------------------ owner thread

    def take(self, into: bytearray, up_to: int) -> Close | None:
        """Move queued frames into ``into`` while it holds under ``up_to`` bytes (what a peer
        does not read stays here, where it counts against the limit); return the close
        reason, if any."""
        with self._lock:
            if self._head:
                into += self._head
                self._bytes -= len(self._head)
                self._head = b""
            frames = self._frames
            if frames and self._bytes <= up_to - len(into):  # all of them (most wake-ups)
                for frame in frames:
                    into += frame
                frames.clear()
                self._bytes = 0
            while frames and len(into) < up_to:
                frame = frames.popleft()
                self._bytes -= len(frame)
                into += frame
            return self._close_reason

    def may_sleep(self, closing: bool, write_blocked: bool) -> bool:
        """Go to sleep unless something arrived since the owner last looked: frames it can
        write now, or a close request it has not acted on (``closing`` is what it saw)."""
        with self._lock:
            if ((self._frames or self._head) and not write_blocked) or \
                    (self._close_reason is not None) != closing:
                return False
            self._sleeping = True
            self._write_blocked = write_blocked
            if not (write_blocked or closing):  # nothing of its own left: others may write
                self._lent = self._writer
            return True

    def woke(self, poked: bool) -> None:
        """The owner is back from ``poll()``; ``poked``: the eventfd was readable."""
        if poked:
            self._wakeup.drain(self.wake_fd)
        with self._lock:
            self._sleeping = self._poked = False
            self._lent = None

    def lend_writer(self, writer: Writer | None) -> None:
        """The owner lets other threads write for it while it sleeps (None: no longer)."""
        with self._lock:
            self._writer = writer

    def finish(self, reason: Close) -> Close:
        """The owner stops: nothing more is queued, the eventfd is closed; return the close
        reason (``reason`` unless one was requested before)."""
        with self._lock:
            self._finished = True
            self._writer = self._lent = None
            self._head = b""
            if self._close_reason is None:
                self._close_reason = reason
            self._frames.clear()
            self._bytes = 0
            os.close(self.wake_fd)
            return self._close_reason
