"""An echo server and three clients over TCP on loopback, in one program.

What to watch: the server listens on 127.0.0.1, port 0 (the OS picks a free port). Each accepted
connection gets its own `handle` task, started by the server's callback, not by `main`. Clients
and handlers spend their time waiting on I/O read (`readline`): the loop blocks in select until a
socket is readable, and that I/O event wakes exactly the task reading that socket. When a client
hangs up, its handler reads end-of-file and ends; then `main` closes the server cleanly.
"""

import asyncio
import functools


async def handle(
    handlers: list[asyncio.Task[None]], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    handlers.append(asyncio.current_task())  # type: ignore[arg-type]
    while line := await reader.readline():  # b"" means the client hung up
        writer.write(line)
        await writer.drain()
    writer.close()
    await writer.wait_closed()


async def client(name: str, port: int, delay: float) -> None:
    await asyncio.sleep(delay)  # start one after another, so the output is in a fixed order
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for word in ("hello", "event", "loop"):
        writer.write(f"{name} says {word}\n".encode())
        await writer.drain()
        echo = await reader.readline()
        print(f"{name}: echo {echo.decode().strip()!r}")
        await asyncio.sleep(0.15)
    writer.close()
    await writer.wait_closed()


async def main() -> None:
    handlers: list[asyncio.Task[None]] = []
    server = await asyncio.start_server(functools.partial(handle, handlers), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print("server: listening on 127.0.0.1")
    async with server:
        await asyncio.gather(*(client(f"client-{n}", port, n * 0.05) for n in range(3)))
        await asyncio.gather(*handlers)  # each handler ends when its client hangs up
    print(f"server: closed after {len(handlers)} connections")


if __name__ == "__main__":
    asyncio.run(main())
