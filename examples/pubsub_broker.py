"""A tiny publish/subscribe broker over TCP: two subscribers, a publisher.

What to watch: the protocol is one line per message. A client sends `SUB topic` (answer `OK`) or
`PUB topic text` (answer `OK n`, the number of subscribers reached); the broker pushes
`MSG topic text` to every subscriber of the topic. Each connection has its own `broker` task, and
they all wait on I/O read. One publish wakes the broker task of the publisher's connection, which
writes to the subscribers' sockets; the next select reports those readable and wakes `alice` and
`bob`. At the end `main` hangs up on the subscribers: they read end-of-file and stop.
"""

import asyncio
from collections import defaultdict

Reader, Writer = asyncio.StreamReader, asyncio.StreamWriter
topics: dict[str, list[Writer]] = defaultdict(list)  # topic -> its subscribers' connections


async def broker(reader: Reader, writer: Writer) -> None:
    while line := await reader.readline():
        command, topic, *text = line.decode().rstrip("\n").split(" ", 2)
        if command == "SUB":
            topics[topic].append(writer)
            writer.write(b"OK\n")
        elif command == "PUB":
            for subscriber in topics[topic]:
                subscriber.write(f"MSG {topic} {text[0]}\n".encode())
            writer.write(f"OK {len(topics[topic])}\n".encode())
        await writer.drain()
    writer.close()


async def subscribe(port: int, wanted: list[str]) -> tuple[Reader, Writer]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for topic in wanted:
        writer.write(f"SUB {topic}\n".encode())
        await reader.readline()  # the broker's OK
    return reader, writer


async def listen(name: str, reader: Reader, writer: Writer) -> None:
    while line := await reader.readline():  # until the broker hangs up
        _, topic, text = line.decode().rstrip("\n").split(" ", 2)
        print(f"{name} got {topic}: {text}")
    writer.close()
    await writer.wait_closed()


async def publish(port: int, messages: list[tuple[str, str]]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for topic, text in messages:
        writer.write(f"PUB {topic} {text}\n".encode())
        reached = (await reader.readline()).split()[1].decode()
        print(f"publisher: {topic} {text!r} reached {reached} subscriber(s)")
        await asyncio.sleep(0.1)
    writer.close()
    await writer.wait_closed()


async def main() -> None:
    server = await asyncio.start_server(broker, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        listeners = []
        for name, wanted in {"alice": ["news"], "bob": ["news", "weather"]}.items():
            reader, writer = await subscribe(port, wanted)
            listeners.append(asyncio.create_task(listen(name, reader, writer), name=name))
        news = [("news", "loop started"), ("weather", "sunny"), ("news", "loop stopping")]
        await asyncio.create_task(publish(port, news), name="publisher")
        for connection in set(topics["news"] + topics["weather"]):
            connection.close()  # the broker hangs up on its subscribers
        await asyncio.gather(*listeners)
    print("broker: closed")


if __name__ == "__main__":
    asyncio.run(main())
