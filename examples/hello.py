"""Hello, event loop: one coroutine, a sleep, and a second task.

What to watch: `main()` starts, creates `greet()` as a task named "greeter", then sleeps. The new
task is READY but does not run until `main()` gives the loop back at its `await`. While both
sleep, the loop has nothing to run: it blocks in select until the first timer is due, then wakes
the task that timer belongs to. Every `await asyncio.sleep()` ends one step and adds one timer.
At the end the greeter's result wakes `main()`, which was waiting on the task.
"""

import asyncio


async def greet(name: str) -> str:
    await asyncio.sleep(0.2)
    print(f"hello, {name}")
    return name


async def main() -> None:
    task = asyncio.create_task(greet("event loop"), name="greeter")
    print("main: waiting for the greeter")
    await asyncio.sleep(0.1)
    result = await task
    print(f"main: the greeter greeted {result!r}")


if __name__ == "__main__":
    asyncio.run(main())
