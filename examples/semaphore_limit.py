"""A Semaphore lets only N of M workers into the guarded part at once.

What to watch: six `fetch` tasks start together, but the semaphore has 2 slots. The first two get
in; the other four end their first step waiting on Semaphore.acquire. Each time a worker leaves
the `async with` block it releases its slot, which wakes the next waiter, so the workers run two
at a time: three rounds of 0.2 s. The printed list of running workers never holds more than 2.
"""

import asyncio

LIMIT = 2
WORKERS = 6


async def fetch(n: int, slots: asyncio.Semaphore, running: set[int]) -> None:
    print(f"worker {n}: waiting for a slot")
    async with slots:
        running.add(n)
        print(f"worker {n}: got a slot, running {sorted(running)}")
        await asyncio.sleep(0.2)  # the work the semaphore guards
        running.discard(n)
    print(f"worker {n}: done")


async def main() -> None:
    slots = asyncio.Semaphore(LIMIT)
    running: set[int] = set()
    async with asyncio.TaskGroup() as group:
        for n in range(WORKERS):
            group.create_task(fetch(n, slots, running), name=f"worker-{n}")
    print(f"main: {WORKERS} workers done, at most {LIMIT} at a time")


if __name__ == "__main__":
    asyncio.run(main())
