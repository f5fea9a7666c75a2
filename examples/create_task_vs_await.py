"""Awaiting coroutines one by one vs create_task: in turn or together.

What to watch: in part 1, `main()` awaits each `brew()` coroutine directly. No new task appears:
the one task `main` does all the work and sleeps three times in a row (about 0.9 s). In part 2,
`main()` wraps each coroutine in `asyncio.create_task` first. Three `brew` tasks appear at once,
READY, but they only start when `main` reaches its first `await` and gives the loop back. Then
`main` waits on one task after another while all three sleep at the same time (about 0.3 s).
"""

import asyncio
import time

DRINKS = ["tea", "coffee", "cocoa"]


async def brew(drink: str) -> str:
    await asyncio.sleep(0.3)
    return drink


async def one_after_another() -> None:
    start = time.perf_counter()
    for drink in DRINKS:
        print(f"awaited: {await brew(drink)} is ready")
    print(f"awaiting one after another took {time.perf_counter() - start:.1f} s")


async def tasks_first() -> None:
    start = time.perf_counter()
    tasks = [asyncio.create_task(brew(drink), name=f"brew-{drink}") for drink in DRINKS]
    for task in tasks:
        print(f"task: {await task} is ready")
    print(f"creating the tasks first took {time.perf_counter() - start:.1f} s")


async def main() -> None:
    await one_after_another()
    await tasks_first()


if __name__ == "__main__":
    asyncio.run(main())
