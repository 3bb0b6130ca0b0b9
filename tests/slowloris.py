"""Hostile web clients, as a process of its own: ``python -m tests.slowloris``.

``--drip N`` connections send a request line, then one header line a second, forever;
``--fat N`` connections send just under 16 KiB of headers at once and then nothing.  Both
complete the TLS handshake first (unless ``--plain``), come from 127.2.0.0/16, sixteen per
address, and are renewed as soon as the server closes them.  Prints ``ready`` once every
connection has opened once, then ``closed N`` (how many the server closed) every second.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import ssl
import sys
from pathlib import Path

FAT_LINE = b"X-Fat: " + b"f" * 4000 + b"\r\n"


def address(index: int) -> str:
    return f"127.2.{index // 16 // 250}.{index // 16 % 250 + 1}"


async def client(index: int, args: argparse.Namespace, context: ssl.SSLContext | None,
                 fat: bool, opened: set[int], closed: list[int]) -> None:
    while True:
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", args.port, ssl=context,
                server_hostname=None if context is None else "127.0.0.1",
                local_addr=(address(index), 0))
            opened.add(index)
            writer.write(b"GET / HTTP/1.1\r\nHost: scoreboard\r\n")
            if fat:
                writer.write(FAT_LINE * 3)  # 12 KiB, and the rest of the budget is nearly used
                await reader.read()  # until the server closes it
            else:
                while not reader.at_eof():
                    writer.write(b"X-Drip: a\r\n")
                    await writer.drain()
                    try:
                        await asyncio.wait_for(reader.read(4096), 1.0)
                    except TimeoutError:
                        pass
            writer.close()
        except (OSError, ssl.SSLError):
            await asyncio.sleep(0.2)
        closed[0] += 1


async def crowd(args: argparse.Namespace) -> None:
    context = None if args.plain else ssl.create_default_context(cafile=str(args.cafile))
    opened: set[int] = set()
    closed = [0]
    total = args.drip + args.fat
    tasks = [asyncio.create_task(client(i, args, context, i >= args.drip, opened, closed))
             for i in range(total)]
    told = False
    while True:
        await asyncio.sleep(1)
        if not told and len(opened) >= total:
            print("ready", flush=True)
            told = True
        print(f"closed {closed[0]}", flush=True)
    del tasks


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.slowloris")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cafile", type=Path)
    parser.add_argument("--plain", action="store_true")
    parser.add_argument("--drip", type=int, default=512)
    parser.add_argument("--fat", type=int, default=512)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(crowd(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
