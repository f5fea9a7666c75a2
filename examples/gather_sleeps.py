"""Concurrent sleeps with gather: total time is the longest, not the sum.

What to watch: `asyncio.gather` wraps each `nap()` coroutine in its own task, and `main()` then
waits on the gather. The three naps start in the same loop iteration, so three timers sit in the
heap together while the loop blocks in select. Each timer wakes one nap; when the last nap ends,
the gather completes and wakes `main()`. The elapsed time is about 0.6 s, not 0.2 + 0.4 + 0.6.
"""

import asyncio
import time

DELAYS = [0.2, 0.4, 0.6]


async def nap(name: str, delay: float) -> str:
    print(f"{name}: sleeping {delay:.1f} s")
    await asyncio.sleep(delay)
    print(f"{name}: awake")
    return name


async def main() -> None:
    start = time.perf_counter()
    names = await asyncio.gather(*(nap(f"nap-{i}", delay) for i, delay in enumerate(DELAYS)))
    elapsed = time.perf_counter() - start
    print(f"gathered {names}")
    print(f"elapsed {elapsed:.2f} s, sum of sleeps {sum(DELAYS):.2f} s")


if __name__ == "__main__":
    asyncio.run(main())
