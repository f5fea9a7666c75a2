"""A bounded queue: a fast producer waits for slow consumers (back-pressure).

What to watch: the queue holds at most 2 items. The `producer` task puts 8 items without pausing;
when the queue is full its step ends waiting on Queue.put, and it stays WAITING until a consumer
takes an item out. The two `consumer` tasks alternate between waiting on Queue.get and sleeping
(their slow work). Each `get` wakes the producer; each `put` wakes a waiting consumer. At the end
`main` waits for `queue.join()`, then cancels the idle consumers, which end CANCELLED.
"""

import asyncio


async def producer(queue: asyncio.Queue[int], count: int) -> None:
    for item in range(count):
        await queue.put(item)
        print(f"producer: put {item}, queue size {queue.qsize()}")
    print("producer: all items queued")


async def consumer(name: str, queue: asyncio.Queue[int]) -> None:
    while True:
        item = await queue.get()
        await asyncio.sleep(0.15)  # slow work
        print(f"{name}: handled {item}")
        queue.task_done()


async def main() -> None:
    queue: asyncio.Queue[int] = asyncio.Queue(maxsize=2)
    consumers = [
        asyncio.create_task(consumer(f"consumer-{n}", queue), name=f"consumer-{n}") for n in (1, 2)
    ]
    await asyncio.create_task(producer(queue, 8), name="producer")
    await queue.join()  # every item handled
    for task in consumers:
        task.cancel()
    await asyncio.gather(*consumers, return_exceptions=True)
    print("main: all done")


if __name__ == "__main__":
    asyncio.run(main())
