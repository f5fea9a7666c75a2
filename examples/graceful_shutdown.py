"""Graceful shutdown on SIGTERM/SIGINT: workers finish their current item.

What to watch: `main` installs signal handlers with `loop.add_signal_handler`, starts three
workers and waits on an Event. Each worker loops over items, one sleep per item. A timer sends
the program SIGTERM after 1 s (so it stops by itself; Ctrl-C does the same). The handler runs as
a plain callback, outside any task, and sets the Event, which wakes `main`. `main` cancels the
workers: each wakes with CancelledError in its sleep, finishes its current item in `finally`
(one more short sleep), and ends CANCELLED. Then `main` returns and the program exits 0.
"""

import asyncio
import os
import signal


async def worker(name: str, seconds_per_item: float) -> None:
    item = 0
    try:
        while True:
            item += 1
            print(f"{name}: working on item {item}")
            await asyncio.sleep(seconds_per_item)
    finally:
        await asyncio.sleep(0.1)  # finish (or save) the current item before leaving
        print(f"{name}: saved item {item}, stopping")


async def main() -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    loop.call_later(1.0, os.kill, os.getpid(), signal.SIGTERM)  # as if someone ran `kill`

    workers = [
        asyncio.create_task(worker(f"worker-{n}", seconds), name=f"worker-{n}")
        for n, seconds in enumerate((0.3, 0.4, 0.7), start=1)
    ]
    await stop.wait()
    print("main: got a signal, shutting down")
    for task in workers:
        task.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    print("main: all workers stopped")


if __name__ == "__main__":
    asyncio.run(main())
