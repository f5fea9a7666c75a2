"""Cancellation and timeouts: timeout, wait_for, cancel, cleanup in finally.

What to watch: each `download()` sleeps for 1 s but gets less time than that. With
`asyncio.timeout(0.3)` the loop holds an extra timer; when it fires it cancels `main` itself,
which wakes at its `await` with CancelledError, runs the download's `finally`, and leaves the
`async with` as TimeoutError. `wait_for` does the same to a separate task, which ends CANCELLED.
Last, `main` cancels a task by hand: the cancel request wakes the sleeping task at once.
Every `finally` runs, so every download prints its cleanup line.
"""

import asyncio


async def download(name: str, seconds: float) -> str:
    print(f"{name}: started")
    try:
        await asyncio.sleep(seconds)
        return f"{name}: finished"
    finally:
        print(f"{name}: cleanup in finally")  # runs on success and on cancellation


async def main() -> None:
    try:
        async with asyncio.timeout(0.3):
            await download("A", 1.0)
    except TimeoutError:
        print("A: timed out after 0.3 s (asyncio.timeout)")

    task_b = asyncio.create_task(download("B", 1.0), name="download-B")
    try:
        await asyncio.wait_for(task_b, timeout=0.3)
    except TimeoutError:
        print(f"B: timed out after 0.3 s (wait_for), cancelled: {task_b.cancelled()}")

    task_c = asyncio.create_task(download("C", 1.0), name="download-C")
    await asyncio.sleep(0.2)
    task_c.cancel()
    try:
        await task_c
    except asyncio.CancelledError:
        print("C: cancelled by main (task.cancel)")


if __name__ == "__main__":
    asyncio.run(main())
