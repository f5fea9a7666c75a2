"""A forgotten task: never awaited, its exception is noticed only by the GC.

What to watch: `main` starts `send_report()` with `asyncio.create_task` but keeps no reference
and never awaits it. After 0.2 s the task fails. Nobody waits on it, so nothing is woken, and
`main` goes on as if all were well. Only when the finished task is garbage-collected (here right
after it fails, as nothing refers to it) does asyncio call the loop's exception handler, which
logs "Task exception was never retrieved" to stderr, in the middle of `main`'s output. The
program still exits 0: the error is easy to miss. The fix: keep the task and await it, or run it
in a TaskGroup.
"""

import asyncio


async def send_report() -> None:
    await asyncio.sleep(0.2)
    raise ConnectionError("mail server unreachable")


async def main() -> None:
    asyncio.create_task(send_report(), name="send-report")  # no reference kept: forgotten
    for n in range(1, 4):
        await asyncio.sleep(0.15)
        print(f"main: still working ({n})")
    print("main: done, and the report was sent... or was it?")


if __name__ == "__main__":
    asyncio.run(main())
