"""A password-guessing crowd, as a process of its own: ``python -m tests.hammer``.

Each of ``--addresses`` loopback addresses (127.1.0.0/16) opens one TLS connection and sends
wrong logins flat out, each the moment the last was answered, to the accounts named (in
turn).  It prints ``ready N`` once every address has had its first attempt answered or is
waiting for it, then ``answers CODE=COUNT ...`` every second, and runs until killed.  A process
of its own, so that its thousands of connections do not share a GIL with whoever measures.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import resource
import ssl
import sys
from pathlib import Path

import protocol

HELLO = protocol.encode(protocol.Hello(version=protocol.PROTOCOL_VERSION, client="hammer"))


def address(index: int) -> str:
    return f"127.1.{index // 250}.{index % 250 + 1}"


async def read_message(reader: asyncio.StreamReader,
                       decoder: protocol.FrameDecoder) -> protocol.Message:
    while True:
        msg = decoder.next_message()
        if msg is not None and not isinstance(msg, protocol.Ping | protocol.Notice):
            return msg
        if msg is None:
            data = await reader.read(65536)
            if not data:
                raise EOFError("the server closed the connection")
            decoder.receive_data(data)


async def guesser(index: int, port: int, context: ssl.SSLContext, targets: list[str],
                  started: asyncio.Semaphore, counts: collections.Counter[str],
                  asked: set[int]) -> None:
    while True:
        try:
            async with started:  # a crowd connects as fast as the server admits it
                reader, writer = await asyncio.open_connection(
                    "127.0.0.1", port, ssl=context, server_hostname="127.0.0.1",
                    local_addr=(address(index), 0))
            decoder = protocol.FrameDecoder(protocol.SERVER_TO_PLAYER)
            writer.write(HELLO)
            await read_message(reader, decoder)
            turn = index
            while True:
                name = targets[turn % len(targets)]
                turn += 1
                writer.write(protocol.encode(protocol.Login(name=name, password="not-it-123")))
                asked.add(index)
                answer = await read_message(reader, decoder)
                counts[getattr(answer, "code", answer.TYPE)] += 1
        except (OSError, EOFError, ssl.SSLError, protocol.RemoteProtocolError):
            counts["reconnect"] += 1
            await asyncio.sleep(0.5)


async def crowd(args: argparse.Namespace) -> None:
    context = ssl.create_default_context(cafile=str(args.cafile))
    counts: collections.Counter[str] = collections.Counter()
    asked: set[int] = set()
    started = asyncio.Semaphore(100)
    tasks = [asyncio.create_task(guesser(i, args.port, context, args.targets, started, counts,
                                         asked)) for i in range(args.addresses)]
    told = False
    while True:
        await asyncio.sleep(1)
        if not told and len(asked) >= args.addresses:
            print(f"ready {len(asked)}", flush=True)
            told = True
        print("answers " + " ".join(f"{k}={v}" for k, v in sorted(counts.items())),
              flush=True)
    del tasks


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.hammer")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cafile", type=Path, required=True)
    parser.add_argument("--addresses", type=int, default=5000)
    parser.add_argument("targets", nargs="+", help="account names to guess at")
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(crowd(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
