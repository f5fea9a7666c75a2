"""The stepper in the viewer: a program started held, moved by keys, its internals on screen."""

from __future__ import annotations

import asyncio
import textwrap
import time
from pathlib import Path
from typing import Any

from tui_helpers import screen_text

from visualizer.model import State
from visualizer.runner import Program
from visualizer.trace import schema
from visualizer.tui.app import LoopvizApp
from visualizer.tui.session import Session
from visualizer.tui.widgets.table import Table

DEADLINE = 20.0  # seconds: a deadline, not an expected duration

SHOP = """
import asyncio

async def producer(queue):
    for item in range(4):
        await queue.put(item)
        print("put", item)

async def consumer(queue):
    while True:
        item = await queue.get()
        await asyncio.sleep(0.01)
        print("got", item)
        queue.task_done()

async def main():
    queue = asyncio.Queue(maxsize=1)
    worker = asyncio.create_task(consumer(queue), name="consumer")
    await asyncio.create_task(producer(queue), name="producer")
    await queue.join()
    worker.cancel()

asyncio.run(main())
"""


def _stepped(tmp_path: Path, source: str = SHOP) -> Session:
    script = tmp_path / "shop.py"
    script.write_text(textwrap.dedent(source))
    trace = str(tmp_path / "shop.lvtrace")
    program = Program([str(script)], None, trace, step=True)
    return Session(trace, program, title="shop.py")


async def _until(app: LoopvizApp, pilot: Any, check: Any, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        app.tick()
        await pilot.pause(0.05)
        with app.session.view():
            done = check(app)
        if done:
            app.tick()  # the screen shows what the check saw
            await pilot.pause()
            return
    raise AssertionError(f"timed out waiting for {what}:\n{screen_text(app)}")


def _handles(app: LoopvizApp) -> int:
    loops = app.session.model.loops
    return loops[1].handles if 1 in loops else -1


def _held(app: LoopvizApp) -> Any:
    return app.session.held()


def _run(tmp_path: Path, steps: Any, size: tuple[int, int] = (140, 44)) -> Any:
    session = _stepped(tmp_path)

    async def main() -> Any:
        app = LoopvizApp(session)
        async with app.run_test(size=size) as pilot:
            await _until(app, pilot, lambda a: _held(a) is not None, "the first hold")
            return await steps(app, pilot)

    try:
        return asyncio.run(main())
    finally:
        session.close(grace=0.5)


async def _press_and_hold(app: LoopvizApp, pilot: Any, key: str) -> None:
    """Press a key that runs the program on, and wait for the stepper to hold it again."""
    holds = app.session.model.loops[1].holds
    await pilot.press(key)
    await _until(app, pilot, lambda a: a.session.model.loops[1].holds > holds
                 and _held(a) is not None, f"a hold after {key!r}")  # fmt: skip


def test_it_starts_held_and_shows_the_loop_internals(tmp_path):
    async def look(app, pilot):
        return screen_text(app), _handles(app)

    text, handles = _run(tmp_path, look)
    assert handles == 0  # nothing ran yet
    assert "⏸ held before its select" in text
    assert "Loop 1 internals" in text and "1 select → 2 I/O events" in text
    assert "checks for I/O in select with no wait" in text  # the narration
    assert "start Task-" in text and "main() (its first step)" in text


def test_full_stop_runs_exactly_one_callback_per_press(tmp_path):
    async def step(app, pilot):
        ran = []
        for _ in range(5):
            await _press_and_hold(app, pilot, "full_stop")
            ran.append(_handles(app))
        return ran, screen_text(app)

    ran, text = _run(tmp_path, step)
    assert ran == [1, 2, 3, 4, 5]
    assert "held before" in text


def test_the_internals_say_what_runs_next_and_who_queued_it(tmp_path):
    async def step(app, pilot):
        await _press_and_hold(app, pilot, "full_stop")  # main: makes consumer and producer
        await _press_and_hold(app, pilot, "full_stop")  # consumer's first step: Queue.get
        return screen_text(app), _held(app)

    text, held = _run(tmp_path, step)
    assert held.point == schema.POINT_HANDLE and (held.k, held.n) == (2, 2)
    assert "▶ start producer producer() (its first step)" in text
    assert "queued by Task-" in text  # main queued it
    assert "next: producer producer() goes on at shop.py:4 in producer" in text
    assert "▶    4 │ async def producer(queue):" in text


def test_tick_runs_to_the_next_iteration_and_u_until_a_task_steps(tmp_path):
    async def keys(app, pilot):
        await _press_and_hold(app, pilot, "full_stop")
        await _press_and_hold(app, pilot, "full_stop")
        await _press_and_hold(app, pilot, "right_curly_bracket")
        at_top = _held(app).point
        table = app.query_one("#tasks", Table)
        rows = table.displayed_rows
        table.move_cursor(next(i for i, row in enumerate(rows) if row.name == "consumer"))
        await _press_and_hold(app, pilot, "u")
        held = _held(app)
        return at_top, app.session.model.tasks[held.next.task].name if held.next else None

    at_top, next_task = _run(tmp_path, keys)
    assert at_top == schema.POINT_TOP
    assert next_task == "consumer"


def test_space_lets_it_run_and_holds_it_again(tmp_path):
    async def keys(app, pilot):
        await pilot.press("space")  # held: run on
        await _until(app, pilot, lambda a: a.session.status is not None, "the program to end")
        return app.session.status

    assert _run(tmp_path, keys) == 0


def test_auto_play_steps_on_by_itself_until_a_stops_it(tmp_path):
    async def keys(app, pilot):
        for _ in range(3):
            await pilot.press("x")  # 0.5 s -> 62.5 ms a callback
        await pilot.press("a")
        await _until(app, pilot, lambda a: _handles(a) >= 4, "auto-play to run callbacks")
        await pilot.press("a")
        await pilot.pause(0.3)
        app.tick()
        stopped = _handles(app)
        await pilot.pause(0.4)
        app.tick()
        return stopped, _handles(app), app.session.status

    stopped, later, status = _run(tmp_path, keys)
    assert later == stopped and status is None  # held again, not ended


def test_comma_steps_the_cursor_back_over_what_ran(tmp_path):
    async def keys(app, pilot):
        for _ in range(3):
            await _press_and_hold(app, pilot, "full_stop")
        await pilot.press("comma", "comma")  # two steps back: the second of three
        await pilot.pause()
        back = app.session.cursor
        await pilot.press("full_stop")  # in the past: the cursor moves, the program does not
        await pilot.pause()
        return back, app.session.cursor, _handles(app), app.session.model

    back, forward, handles, model = _run(tmp_path, keys)
    assert back is not None and forward is not None and forward > back
    assert handles == 3


def test_stepping_back_and_forward_again_lands_on_the_same_states(tmp_path):
    def states(app):
        table = app.query_one("#tasks", Table)
        return app.session.cursor, {row.task.name: row.state for row in table.displayed_rows}

    async def keys(app, pilot):
        for _ in range(6):
            await _press_and_hold(app, pilot, "full_stop")
        seen = []
        for _ in range(4):  # back over four steps...
            await pilot.press("comma")
            await pilot.pause()
            app.tick()
            await pilot.pause()
            seen.append(states(app))
        again = []
        for _ in range(3):  # ...and forward over three of them
            await pilot.press("full_stop")
            await pilot.pause()
            app.tick()
            await pilot.pause()
            again.append(states(app))
        return seen, again, _handles(app)

    seen, again, handles = _run(tmp_path, keys)
    assert [t for t, _ in seen] == sorted((t for t, _ in seen), reverse=True)
    assert again == list(reversed(seen[:-1]))  # the same moments, the same states
    assert handles == 6  # the program did not move


def test_output_arrives_in_step_with_the_callback_that_printed_it(tmp_path):
    async def keys(app, pilot):
        for _ in range(4):
            await pilot.press("O")  # task, done, io, timer, output
        await _press_and_hold(app, pilot, "o")
        printed = [line for _, _, line in app.query_one("#output").lines]
        return printed, _handles(app)

    printed, handles = _run(tmp_path, keys)
    assert printed == ["put 0"]  # held right after the first print, its line already shown
    assert handles >= 3


def test_a_task_whose_wakeup_is_queued_shows_as_ready(tmp_path):
    async def keys(app, pilot):
        for _ in range(20):
            await _press_and_hold(app, pilot, "full_stop")
            held = _held(app)
            woken = [q.task for q in held.queue if q.what == "wakeup" and q.task is not None]
            if woken:
                task = app.session.model.tasks[woken[0]]
                table = app.query_one("#tasks", Table)
                row = next(i for i, r in enumerate(table.displayed_rows) if r is task)
                table.move_cursor(row)
                app.tick()
                await pilot.pause()
                return task.state, task.since <= held.t, screen_text(app), task.label
        raise AssertionError("no task was woken in 20 steps")

    state, since_ok, text, label = _run(tmp_path, keys)
    assert state == State.READY and since_ok
    assert any(label.split()[0] in line and "● ready" in line for line in text.splitlines())


WORKER = """
import asyncio

async def worker():
    try:
        while True:
            await asyncio.sleep(0.05)
    finally:
        print("worker cleaned up")

async def main():
    task = asyncio.create_task(worker(), name="worker")
    try:
        await task
    except asyncio.CancelledError:
        print("main saw the cancel")

asyncio.run(main())
"""


def _worker_session(tmp_path: Path) -> tuple[Session, str]:
    """WORKER, running under the viewer's session (not stepped)."""
    script = tmp_path / "prog.py"
    script.write_text(WORKER)
    trace = str(tmp_path / "prog.lvtrace")
    return Session(trace, Program([str(script)], None, trace), title="prog.py"), trace


def test_a_task_is_cancelled_after_a_yes_and_the_answer_shows(tmp_path):
    session, _ = _worker_session(tmp_path)

    async def main():
        app = LoopvizApp(session)
        async with app.run_test(size=(140, 44)) as pilot:
            table = app.query_one("#tasks", Table)
            await _until(app, pilot, lambda a: any(
                row.name == "worker" for row in table.displayed_rows), "the worker")  # fmt: skip
            table.move_cursor(next(i for i, row in enumerate(table.displayed_rows)
                                   if row.name == "worker"))  # fmt: skip
            await pilot.press("C")
            await pilot.pause()
            asked = screen_text(app)
            await pilot.press("n")  # no: nothing happens
            await pilot.pause(0.3)
            app.tick()
            still = app.session.status
            await pilot.press("C", "y")
            await _until(app, pilot, lambda a: a.session.status is not None, "the program's end")
            await pilot.pause(0.3)
            app.tick()
            await pilot.pause()
            worker = next(t for t in app.session.model.tasks if t.name == "worker")
            return asked, still, app.session.model.answers, worker.outcome, screen_text(app)

    try:
        asked, still, answers, outcome, text = asyncio.run(main())
    finally:
        session.close(grace=0.5)
    assert "Cancel worker worker()?" in asked
    assert still is None  # n left it running
    assert [words for _, words in answers] == ["cancel: asked worker worker() to cancel"]
    assert outcome == schema.OUTCOME_CANCELLED
    assert "worker cleaned up" in text and "main saw the cancel" in text


def test_d_dumps_every_tasks_stack_to_a_file(tmp_path):
    session, trace = _worker_session(tmp_path)

    async def main():
        app = LoopvizApp(session)
        async with app.run_test(size=(140, 44)) as pilot:
            await _until(app, pilot, lambda a: len(a.session.model.tasks) >= 2, "the worker")
            await pilot.press("D")
            await _until(app, pilot, lambda a: a.session.model.answers, "the answer")
            return app.session.model.answers

    try:
        answers = asyncio.run(main())
    finally:
        session.close(grace=0.5)
    dumped = Path(f"{trace}.stacks.txt")
    assert answers[0][1] == f"dump: wrote the stacks of 2 tasks to {dumped}"
    text = dumped.read_text()
    assert "-- worker worker(): pending" in text and "prog.py:7 in worker" in text
    assert oct(dumped.stat().st_mode & 0o777) == "0o600"
