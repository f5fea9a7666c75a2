"""A blocking call freezes the loop; asyncio.to_thread keeps it responsive.

What to watch: a `ticker` task prints a tick every 0.1 s. In part 1, `main()` calls
`time.sleep(0.5)` inside a coroutine: that single step runs for half a second, the loop cannot
run anything else, and the ticker's timer comes due but nobody serves it. Look for the one long
step (and the gap in the ticks). In part 2 the same call goes through `asyncio.to_thread`: `main`
waits on a thread, the loop stays free and keeps ticking, and the result comes back from the
worker thread through `call_soon_threadsafe`.
"""

import asyncio
import time

START = time.perf_counter()


async def ticker(name: str) -> None:
    while True:
        await asyncio.sleep(0.1)
        print(f"{name}: tick at {time.perf_counter() - START:.2f} s")


async def with_ticker(name: str, blocking: bool) -> None:
    ticks = asyncio.create_task(ticker(name), name=f"ticker-{name}")
    await asyncio.sleep(0.25)
    print(f"{name}: sleeping 0.5 s at {time.perf_counter() - START:.2f} s")
    if blocking:
        time.sleep(0.5)  # blocks the loop: nothing else runs meanwhile
    else:
        await asyncio.to_thread(time.sleep, 0.5)  # the loop stays free
    print(f"{name}: woke up at {time.perf_counter() - START:.2f} s")
    await asyncio.sleep(0.15)
    ticks.cancel()


async def main() -> None:
    await with_ticker("blocking", blocking=True)
    await with_ticker("threaded", blocking=False)


if __name__ == "__main__":
    asyncio.run(main())
