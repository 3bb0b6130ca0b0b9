"""Simulated players: real TLS clients speaking the real protocol, many per process (asyncio).

One event loop drives thousands of connections, so the load generator costs far less than the
server it measures; every frame goes through ``protocol`` exactly as in pclient.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass, field

import protocol


@dataclass
class Latencies:
    """Round-trip samples in seconds, with the moment each was taken."""

    samples: list[float] = field(default_factory=list)
    stamps: list[float] = field(default_factory=list)
    errors: int = 0

    def add(self, seconds: float) -> None:
        self.samples.append(seconds)
        self.stamps.append(time.monotonic())


class BotClient:
    """One connection; a reader task answers pings and queues every other message."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 accepted: frozenset[str] = protocol.SERVER_TO_PLAYER) -> None:
        self.reader, self.writer = reader, writer
        self.accepted = accepted
        self.inbox: asyncio.Queue[protocol.Message | None] = asyncio.Queue()
        self._task = asyncio.create_task(self._read())
        self.received_at: dict[str, float] = {}

    @classmethod
    async def open(cls, port: int, context: ssl.SSLContext, host: str = "127.0.0.1"
                   ) -> BotClient:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(
            host, port, ssl=context, server_hostname=host, limit=1 << 20), timeout=30)
        return cls(reader, writer)

    async def _read(self) -> None:
        # chunks through the same incremental decoder as the server: one await per read,
        # not two per frame, so the load generator leaves more of the cores to the server
        decoder = protocol.FrameDecoder(self.accepted)
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    break
                now = time.monotonic()
                decoder.receive_data(data)
                while (msg := decoder.next_message()) is not None:
                    if isinstance(msg, protocol.Ping):
                        self.send(protocol.Pong(nonce=msg.nonce))
                        continue
                    self.received_at[msg.TYPE] = now
                    self.inbox.put_nowait(msg)
        except (ConnectionError, ssl.SSLError, OSError, protocol.RemoteProtocolError):
            pass
        self.inbox.put_nowait(None)

    def send(self, msg: protocol.Message) -> None:
        self.writer.write(protocol.encode(msg))

    async def expect(self, *kinds: type[protocol.Message], timeout: float = 30.0
                     ) -> protocol.Message:
        """The next message of one of ``kinds`` (others are dropped)."""
        async with asyncio.timeout(timeout):  # no extra task per wait, unlike wait_for
            while True:
                msg = await self.inbox.get()
                if msg is None:
                    self.inbox.put_nowait(None)  # later waits see the end too
                    raise ConnectionError("server closed the connection")
                if isinstance(msg, kinds):
                    return msg

    async def request(self, msg: protocol.Message, *kinds: type[protocol.Message],
                      timeout: float = 30.0) -> protocol.Message:
        self.send(msg)
        return await self.expect(*kinds, protocol.Error, timeout=timeout)

    async def join(self, name: str, mode: str, room: str | None = None,
                   timeout: float = 30.0) -> protocol.RoundStarted:
        await self.request(protocol.Hello(version=protocol.PROTOCOL_VERSION, client="bench"),
                           protocol.Welcome, timeout=timeout)
        await self.request(protocol.SetName(name=name), protocol.Identified, timeout=timeout)
        started = await self.request(protocol.Play(mode=mode, room=room), protocol.RoundStarted,
                                     timeout=timeout)
        if not isinstance(started, protocol.RoundStarted):
            raise RuntimeError(f"could not join: {started}")
        return started

    async def close(self) -> None:
        self._task.cancel()
        self.writer.close()
        try:
            await asyncio.wait_for(self.writer.wait_closed(), timeout=2)
        except (TimeoutError, ConnectionError, ssl.SSLError, OSError):
            pass


async def open_many(count: int, port: int, context: ssl.SSLContext, concurrency: int = 64,
                    hello: bool = False) -> list[BotClient]:
    """Up to ``count`` connections, at most ``concurrency`` handshakes (and, with ``hello``,
    hello/welcome exchanges) at a time; the ones that fail (refused, timed out, closed) are left
    out and counted in ``open_many.failures``."""
    gate = asyncio.Semaphore(concurrency)

    async def one() -> BotClient | None:
        async with gate:
            try:
                client = await BotClient.open(port, context)
            except (TimeoutError, OSError, ssl.SSLError):
                return None
            if hello:
                try:
                    await client.request(protocol.Hello(version=protocol.PROTOCOL_VERSION),
                                         protocol.Welcome)
                except (TimeoutError, ConnectionError):
                    await client.close()
                    return None
            return client

    opened = await asyncio.gather(*(one() for _ in range(count)))
    open_many.failures = sum(1 for c in opened if c is None)  # type: ignore[attr-defined]
    return [c for c in opened if c is not None]


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank; NaN-free: 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]
