"""Stepping a program through the agent: it runs exactly as far as it is told, in the order plain
asyncio runs it, and its clock stands still while it is held."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.stepping import command, holds, load, loop_records, stepped, wait_for
from visualizer.model import Model
from visualizer.trace import schema

# Two workers taking turns, a sleep, a callback, and output at each step: a fixed order.
TURNS = """
import asyncio

async def worker(name, n):
    for i in range(n):
        print(name, i)
        await asyncio.sleep(0)
    return name

async def main():
    loop = asyncio.get_running_loop()
    loop.call_soon(print, "a callback")
    done = await asyncio.gather(worker("a", 3), worker("b", 2))
    await asyncio.sleep(0.05)
    print("done", done)

asyncio.run(main())
"""


def _handles(path: Path) -> list[tuple[Any, ...]]:
    """The handles that ran, as (kind, task), in order: steps by their task's name."""
    kinds = {schema.STEP_YIELD, schema.STEP_WAIT, schema.STEP_DONE, schema.CALLBACK}
    return [r for r in loop_records(path) if r[0] in kinds]


def _kinds(path: Path, *kinds: int) -> list[int]:
    return [r[0] for r in loop_records(path) if r[0] in kinds]


def _names(path: Path) -> dict[int, str]:
    """The tasks' names by id, in the order they were made (main, a, b)."""
    return {r[2]: r[3] for r in loop_records(path) if r[0] == schema.TASK_NEW}


def _order(path: Path) -> list[str]:
    names = _names(path)
    return [names.get(r[2], "?") if r[0] != schema.CALLBACK else "callback"
            for r in _handles(path)]  # fmt: skip


def test_the_program_starts_held_and_each_step_runs_exactly_one_callback(tmp_path):
    with stepped(tmp_path, TURNS) as (program, trace):
        wait_for(lambda: holds(trace), "the first hold")
        assert _handles(trace) == []  # held before the first callback
        ran = []
        for _ in range(6):
            command(program, trace, "step")
            ran.append(len(_handles(trace)))
        assert ran == [1, 2, 3, 4, 5, 6]
        program.send("continue")
        wait_for(lambda: program.poll() is not None, "the program to end")
    assert program.poll() == 0
    stepped_order, stepped_trace = _order(trace), trace

    plain = tmp_path / "plain"
    plain.mkdir()
    with stepped(plain, TURNS, step=False) as (program, trace):
        wait_for(lambda: program.poll() is not None, "the plain run to end")
    # the same callbacks in the same order as a run nobody stepped, in as many iterations
    assert stepped_order == _order(trace) and len(stepped_order) > 10
    assert _kinds(stepped_trace, schema.SELECT, schema.READY) == _kinds(
        trace, schema.SELECT, schema.READY
    )


def test_a_hold_says_what_is_queued_and_what_runs_next(tmp_path):
    with stepped(tmp_path, TURNS) as (program, trace):
        wait_for(lambda: holds(trace), "the first hold")
        first = holds(trace)[-1]
        _, _, point, k, n, timeout, why, queued = first
        # the first point: the top of the first iteration, main's first step ready
        assert (point, timeout, why, queued) == (schema.POINT_TOP, 0, schema.WHY_READY, 1)
        held = command(program, trace, "step")  # main ran: it queued the callback, a and b
        assert held[2] == schema.POINT_TOP  # main was the iteration's only handle
        after = loop_records(trace)
        at = max(i for i, r in enumerate(after) if r[0] == schema.PAUSED)
        entries = [r for r in after[at + 1 :] if r[0] == schema.QUEUED][: held[-1]]
        strings = {r[1]: r[2] for r in after if r[0] == schema.STR}
        names = _names(trace)
        described = [(names.get(task, ""), strings.get(what), strings.get(where, ""))
                     for _, task, what, where in entries]  # fmt: skip
        _, a, b = names.values()
        assert [d[:2] for d in described] == [("", "print"), (a, "step"), (b, "step")]
        assert described[1][2].endswith("prog.py:4 in worker")  # its first line: never ran
        held = command(program, trace, "step")  # the callback
        assert (held[2], held[3], held[4]) == (schema.POINT_HANDLE, 2, 3)


def test_the_clock_stands_still_whileholds(tmp_path):
    source = """
    import asyncio, time

    async def main():
        loop = asyncio.get_running_loop()
        start, wall = loop.time(), time.time()
        await asyncio.sleep(0.3)
        print(f"{loop.time() - start:.2f} {time.time() - wall:.2f}")

    asyncio.run(main())
    """
    with stepped(tmp_path, source) as (program, trace):
        wait_for(lambda: holds(trace), "the first hold")
        command(program, trace, "step")  # main's first step: the sleep's timer is set
        began = time.monotonic()
        time.sleep(1.0)  # held: the sleep must still have its 0.3 s
        program.send("continue")
        wait_for(lambda: program.poll() is not None, "the program to end")
        took = time.monotonic() - began
    output = "".join(o.text for o in Model.load(trace).output).split()
    loop_elapsed, wall_elapsed = map(float, output)
    assert took >= 1.25  # really held: a second, then the 0.3 s sleep
    assert 0.29 <= loop_elapsed < 0.6 and 0.29 <= wall_elapsed < 0.6


def test_tick_runs_to_the_top_of_the_next_iteration(tmp_path):
    with stepped(tmp_path, TURNS) as (program, trace):
        wait_for(lambda: holds(trace), "the first hold")
        command(program, trace, "step")  # main
        held = command(program, trace, "step")  # the callback: 1 of 3
        assert held[2:5] == (schema.POINT_HANDLE, 2, 3)
        ran = len(_handles(trace))
        held = command(program, trace, "tick")
        assert held[2] == schema.POINT_TOP and len(_handles(trace)) == ran + 2


def test_until_task_runs_until_that_tasks_next_step(tmp_path):
    with stepped(tmp_path, TURNS) as (program, trace):
        wait_for(lambda: holds(trace), "the first hold")
        command(program, trace, "step")
        _, a, b = _names(trace)
        held = command(program, trace, "until_task", task=b)
        records_now = loop_records(trace)
        at = max(i for i, r in enumerate(records_now) if r[0] == schema.PAUSED)
        following = next(r for r in records_now[at + 1 :] if r[0] == schema.QUEUED)
        assert held[2] == schema.POINT_HANDLE and following[1] == b
        assert _order(trace)[-1] == _names(trace)[a]  # a's step ran before it, as queued


def test_until_a_kind_runs_until_one_happened(tmp_path):
    with stepped(tmp_path, TURNS) as (program, trace):
        wait_for(lambda: holds(trace), "the first hold")
        command(program, trace, "until", kind="done")
        done = [r for r in loop_records(trace) if r[0] == schema.STEP_DONE]
        _, _, b = _names(trace)
        assert len(done) == 1 and done[0][2] == b  # b has fewer rounds: it ends first
        command(program, trace, "until", kind="output")
        texts = "".join(o.text for o in Model.load(trace).output)
        assert texts.endswith("a 2\n") or "done" in texts  # the next thing printed


def test_a_running_program_can_be_paused_and_stepped_on(tmp_path):
    source = """
    import asyncio

    async def main():
        n = 0
        while True:
            n += 1
            await asyncio.sleep(0.01)

    asyncio.run(main())
    """
    with stepped(tmp_path, source, step=False) as (program, trace):
        wait_for(lambda: len(_handles(trace)) > 5, "the program to run a while")
        command(program, trace, "pause")
        ran = len(_handles(trace))
        time.sleep(0.3)
        assert len(_handles(trace)) == ran  # held: nothing runs
        command(program, trace, "step")
        assert len(_handles(trace)) == ran + 1
        program.send("continue")
        wait_for(lambda: len(_handles(trace)) > ran + 5, "the program to run on")


def test_play_steps_on_by_itself_and_pause_stops_it(tmp_path):
    with stepped(tmp_path, TURNS) as (program, trace):
        wait_for(lambda: holds(trace), "the first hold")
        program.send("play", interval=0.05)
        wait_for(lambda: len(_handles(trace)) >= 4, "play to run a few callbacks")
        program.send("pause")  # held where play was, or at its next point
        time.sleep(0.3)
        ran = len(_handles(trace))
        time.sleep(0.3)
        assert len(_handles(trace)) == ran < 19  # it has more to run
        last = [r[0] for r in loop_records(trace) if r[0] in (schema.PAUSED, schema.RESUMED)]
        assert last[-1] == schema.PAUSED


def test_quitting_a_held_program_ends_it(tmp_path):
    with stepped(tmp_path, TURNS) as (program, trace):
        wait_for(lambda: holds(trace), "the first hold")
        began = time.monotonic()
        program.stop(grace=5)
        assert time.monotonic() - began < 4  # SIGINT did it: the hold was let go first


def test_a_cancel_to_a_blocked_loop_says_it_was_not_delivered_then_that_it_was(tmp_path):
    source = """
    import asyncio, time

    async def worker():
        await asyncio.sleep(60)

    async def main():
        task = asyncio.create_task(worker(), name="worker")
        await asyncio.sleep(0.3)
        time.sleep(4)  # the loop is stuck: a cancel can't get in until this ends (with room for
        # a loaded machine to send the dump and the cancel meanwhile)
        try:
            await task
        except asyncio.CancelledError:
            print("cancelled")

    asyncio.run(main())
    """
    with stepped(tmp_path, source, step=False) as (program, trace):
        wait_for(lambda: load(trace).stacks, "the loop to be stuck")
        worker = next(t for t in load(trace).tasks if t.name == "worker")
        dump = tmp_path / "stacks.txt"
        program.send("dump", path=str(dump))  # the control thread answers: the loop can't
        wait_for(lambda: load(trace).answers, "the dump's answer")
        assert program.poll() is None and "running a callback" in dump.read_text()
        thread = dump.read_text().split("its thread now")[1].split("--")[0]
        assert thread.rstrip().endswith("prog.py:10 in main")  # the loop thread: its time.sleep
        program.send("cancel", loop=worker.loop, task=worker.ident)
        wait_for(lambda: len(load(trace).answers) >= 3, "the cancel's two answers")
        wait_for(lambda: program.poll() is not None, "the program to end")
    answers = [text for _, text in load(trace).answers]
    assert answers[0] == f"dump: wrote the stacks of 2 tasks to {tmp_path / 'stacks.txt'}"
    assert answers[1].startswith("cancel: not delivered yet: loop 1 is busy in one callback")
    assert answers[2] == "cancel: asked worker worker() to cancel (delivered late)"
    assert "cancelled" in "".join(o.text for o in load(trace).output)
