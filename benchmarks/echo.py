"""Recording overhead on a loopback TCP echo server with 100 concurrent clients.

Server and clients use asyncio *streams* (``start_server`` / ``open_connection``) and run in
the same process on the same loop: each client does a fixed number of round trips (write
100 bytes, drain, ``readexactly`` 100 bytes), the server echoes what it reads. Plain
``asyncio.SelectorEventLoop`` against RecordingEventLoop writing a trace *file*; each run is a
separate process, plain and recorded alternate, medians of 5 pairs by default. glibc's malloc
is pinned on both sides (``GLIBC_TUNABLES``, see ASYNCIO-NOTES.md), or the ratio measures the
allocator. Budget <= 1.25x on the whole-process wall ratio, 1.10x the aim (issue 12);
``--callgrind`` adds the marginal instruction ratio and instructions per round trip (see
_common.py). Exits 0 whatever the ratio.

    python benchmarks/echo.py [--pairs N] [--clients N] [--rounds N] [--size N] [--quick]
                              [--callgrind [--callgrind-dir DIR]] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

import _common  # benchmarks/ is sys.path[0] when this runs as a script

BUDGET = 1.25
AIM = 1.10
HOST = "127.0.0.1"


async def serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()
    await writer.wait_closed()


async def client(port: int, rounds: int, payload: bytes) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    for _ in range(rounds):
        writer.write(payload)
        await writer.drain()
        echoed = await reader.readexactly(len(payload))
        if echoed != payload:
            raise AssertionError("the echo server sent back something else")
    writer.close()
    await writer.wait_closed()


async def echo(args: argparse.Namespace) -> None:
    payload = bytes(range(256)) * (args.size // 256) + bytes(range(args.size % 256))
    server = await asyncio.start_server(serve_one, HOST, 0, backlog=args.clients)
    port = server.sockets[0].getsockname()[1]
    async with server:
        await asyncio.gather(*[client(port, args.rounds, payload) for _ in range(args.clients)])


def main(argv: list[str] | None = None) -> int:
    parser = _common.base_parser(__doc__.splitlines()[0], default_pairs=5)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=400, help="round trips per client")
    parser.add_argument("--size", type=int, default=100, help="bytes per message")
    args = parser.parse_args(argv)
    if args.quick:
        args.clients, args.rounds = min(args.clients, 20), min(args.rounds, 20)
        args.pairs = min(args.pairs, 2)
    if args.child:
        _common.run_child(args.child, args.trace, echo, args)
        return 0
    workload = (
        f"{args.clients} clients x {args.rounds} round trips x {args.size} bytes over loopback "
        "TCP (asyncio streams, server and clients on one loop), recorded to a trace file"
    )
    return _common.main_for(
        "echo",
        workload,
        args,
        os.path.abspath(__file__),
        ["--clients", str(args.clients), "--rounds", str(args.rounds), "--size", str(args.size)],
        BUDGET,
        pin_malloc=True,
        empty_args=["--clients", "0", "--rounds", str(args.rounds), "--size", str(args.size)],
        units=args.clients * args.rounds,
        unit="round trip",
        aim=AIM,
    )


if __name__ == "__main__":
    sys.exit(main())
