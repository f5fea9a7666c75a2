"""Hello, event loop: one coroutine, two sleeps, and a greeting from a second task.

What to watch: `main()` starts, creates `greet()` as a task, then sleeps. While `main()` sleeps
the loop has nothing to run, so it waits in select until the first timer is due; then it wakes
`greet()`, and later `main()`. Every `await asyncio.sleep()` is one step ending and a timer.
"""

import asyncio


async def greet(name: str) -> str:
    await asyncio.sleep(0.1)
    print(f"hello, {name}")
    return name


async def main() -> None:
    task = asyncio.create_task(greet("event loop"), name="greeter")
    print("main: waiting for the greeter")
    await asyncio.sleep(0.05)
    result = await task
    print(f"main: the greeter greeted {result!r}")


if __name__ == "__main__":
    asyncio.run(main())
