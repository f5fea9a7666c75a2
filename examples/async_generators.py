"""Async generators and async comprehensions: values that arrive over time.

What to watch: `countdown()` is an async generator. `async for` pulls one value at a time, and
between values the generator awaits a sleep. No new task appears: a generator runs inside the
task that iterates it, so every sleep in it ends a step of `main` and adds a timer. The async
comprehension pulls through two stacked generators (`squares` over `countdown`) the same way.
Breaking out early inside `aclosing()` closes the generator at once, and its `finally` runs.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing


async def countdown(start: int, delay: float) -> AsyncIterator[int]:
    try:
        for n in range(start, 0, -1):
            await asyncio.sleep(delay)
            yield n
    finally:
        print(f"countdown from {start}: closed")


async def squares(numbers: AsyncIterator[int]) -> AsyncIterator[int]:
    async for n in numbers:
        yield n * n


async def main() -> None:
    async for n in countdown(3, 0.1):
        print(f"countdown: {n}")

    even_squares = [sq async for sq in squares(countdown(4, 0.05)) if sq % 2 == 0]
    print(f"even squares from an async comprehension: {even_squares}")

    async with aclosing(countdown(10, 0.05)) as numbers:
        async for n in numbers:
            print(f"got {n}")
            if n == 8:
                print("that will do, stop early")
                break
    print("main: done")


if __name__ == "__main__":
    asyncio.run(main())
