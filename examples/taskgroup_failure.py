"""A TaskGroup whose child fails: the siblings are cancelled, errors grouped.

What to watch: `main` waits in the TaskGroup's exit while four children run. `quick` finishes
first and ends normally. At 0.3 s `flaky` raises: the group cancels the two `slow` siblings,
which wake at once with CancelledError in their sleep and end CANCELLED. When every child is done
the group raises an ExceptionGroup; `except*` catches it in `main`, so `flaky` ends FAILED but
the program goes on and exits 0.
"""

import asyncio


async def slow(seconds: float) -> None:
    await asyncio.sleep(seconds)  # cancelled here when a sibling fails
    print("slow: finished (never printed)")


async def quick() -> None:
    await asyncio.sleep(0.1)
    print("quick: finished")


async def flaky() -> None:
    await asyncio.sleep(0.3)
    print("flaky: about to fail")
    raise ConnectionError("flaky lost its connection")


def outcome(task: asyncio.Task[None]) -> str:
    if task.cancelled():
        return "cancelled"
    return f"failed with {task.exception()!r}" if task.exception() else "finished"


async def main() -> None:
    try:
        async with asyncio.TaskGroup() as group:
            children = [
                group.create_task(quick(), name="quick"),
                group.create_task(slow(1.0), name="slow-1"),
                group.create_task(slow(2.0), name="slow-2"),
                group.create_task(flaky(), name="flaky"),
            ]
    except* ConnectionError as failures:
        print(f"main: caught {failures!r}")
    for task in children:
        print(f"main: {task.get_name()} {outcome(task)}")


if __name__ == "__main__":
    asyncio.run(main())
