"""Stepping a program through the agent: it runs exactly as far as it is told, in the order plain
asyncio runs it, and its clock stands still while it is held."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from visualizer.model import Model
from visualizer.runner import Program
from visualizer.trace import schema
from visualizer.trace.reader import TraceError, read_trace, records

DEADLINE = 10.0  # a deadline, not an expected duration

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


def _loop_records(path: Path) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    try:
        batches = read_trace(str(path)).batches
    except TraceError:  # the agent has not written the header yet
        return out
    for batch in batches:
        if batch[0] == 1:
            out.extend(records(batch))
    return out


def _held(path: Path) -> list[tuple[Any, ...]]:
    return [r for r in _loop_records(path) if r[0] == schema.PAUSED]


def _handles(path: Path) -> list[tuple[Any, ...]]:
    """The handles that ran, as (kind, task), in order: steps by their task's name."""
    kinds = {schema.STEP_YIELD, schema.STEP_WAIT, schema.STEP_DONE, schema.CALLBACK}
    return [r for r in _loop_records(path) if r[0] in kinds]


def _wait_for(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


@contextmanager
def stepped(tmp_path: Path, source: str, *, step: bool = True) -> Iterator[tuple[Program, Path]]:
    (tmp_path / "prog.py").write_text(textwrap.dedent(source))
    trace = tmp_path / "out.lvtrace"
    program = Program(["prog.py"], None, str(trace), cwd=str(tmp_path), step=step)
    program.start()
    try:
        yield program, trace
    finally:
        program.stop()
        program.finish()


def _command(program: Program, trace: Path, cmd: str, **fields: Any) -> tuple[Any, ...]:
    """Send a command that ends in a hold; return the PAUSED record it ends at."""
    before = len(_held(trace))
    program.send(cmd, **fields)
    _wait_for(lambda: len(_held(trace)) > before, f"the loop to be held after {cmd!r}")
    return _held(trace)[-1]


def _kinds(path: Path, *kinds: int) -> list[int]:
    return [r[0] for r in _loop_records(path) if r[0] in kinds]


def _names(path: Path) -> dict[int, str]:
    """The tasks' names by id, in the order they were made (main, a, b)."""
    return {r[2]: r[3] for r in _loop_records(path) if r[0] == schema.TASK_NEW}


def _order(path: Path) -> list[str]:
    names = _names(path)
    return [names.get(r[2], "?") if r[0] != schema.CALLBACK else "callback"
            for r in _handles(path)]  # fmt: skip


def test_the_program_starts_held_and_each_step_runs_exactly_one_callback(tmp_path):
    with stepped(tmp_path, TURNS) as (program, trace):
        _wait_for(lambda: _held(trace), "the first hold")
        assert _handles(trace) == []  # held before the first callback
        ran = []
        for _ in range(6):
            _command(program, trace, "step")
            ran.append(len(_handles(trace)))
        assert ran == [1, 2, 3, 4, 5, 6]
        program.send("continue")
        _wait_for(lambda: program.poll() is not None, "the program to end")
    assert program.poll() == 0
    stepped_order, stepped_trace = _order(trace), trace

    plain = tmp_path / "plain"
    plain.mkdir()
    with stepped(plain, TURNS, step=False) as (program, trace):
        _wait_for(lambda: program.poll() is not None, "the plain run to end")
    # the same callbacks in the same order as a run nobody stepped, in as many iterations
    assert stepped_order == _order(trace) and len(stepped_order) > 10
    assert _kinds(stepped_trace, schema.SELECT, schema.READY) == _kinds(
        trace, schema.SELECT, schema.READY
    )


def test_a_hold_says_what_is_queued_and_what_runs_next(tmp_path):
    with stepped(tmp_path, TURNS) as (program, trace):
        _wait_for(lambda: _held(trace), "the first hold")
        first = _held(trace)[-1]
        _, _, point, k, n, timeout, why, queued = first
        # the first point: the top of the first iteration, main's first step ready
        assert (point, timeout, why, queued) == (schema.POINT_TOP, 0, schema.WHY_READY, 1)
        held = _command(program, trace, "step")  # main ran: it queued the callback, a and b
        assert held[2] == schema.POINT_TOP  # main was the iteration's only handle
        after = _loop_records(trace)
        at = max(i for i, r in enumerate(after) if r[0] == schema.PAUSED)
        entries = [r for r in after[at + 1 :] if r[0] == schema.QUEUED][: held[-1]]
        strings = {r[1]: r[2] for r in after if r[0] == schema.STR}
        names = _names(trace)
        described = [(names.get(task, ""), strings.get(what), strings.get(where, ""))
                     for _, task, what, where in entries]  # fmt: skip
        _, a, b = names.values()
        assert [d[:2] for d in described] == [("", "print"), (a, "step"), (b, "step")]
        assert described[1][2].endswith("prog.py:4 in worker")  # its first line: never ran
        held = _command(program, trace, "step")  # the callback
        assert (held[2], held[3], held[4]) == (schema.POINT_HANDLE, 2, 3)


def test_the_clock_stands_still_while_held(tmp_path):
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
        _wait_for(lambda: _held(trace), "the first hold")
        _command(program, trace, "step")  # main's first step: the sleep's timer is set
        began = time.monotonic()
        time.sleep(1.0)  # held: the sleep must still have its 0.3 s
        program.send("continue")
        _wait_for(lambda: program.poll() is not None, "the program to end")
        took = time.monotonic() - began
    output = "".join(o.text for o in Model.load(trace).output).split()
    loop_elapsed, wall_elapsed = map(float, output)
    assert took >= 1.25  # really held: a second, then the 0.3 s sleep
    assert 0.29 <= loop_elapsed < 0.6 and 0.29 <= wall_elapsed < 0.6


def test_tick_runs_to_the_top_of_the_next_iteration(tmp_path):
    with stepped(tmp_path, TURNS) as (program, trace):
        _wait_for(lambda: _held(trace), "the first hold")
        _command(program, trace, "step")  # main
        held = _command(program, trace, "step")  # the callback: 1 of 3
        assert held[2:5] == (schema.POINT_HANDLE, 2, 3)
        ran = len(_handles(trace))
        held = _command(program, trace, "tick")
        assert held[2] == schema.POINT_TOP and len(_handles(trace)) == ran + 2


def test_until_task_runs_until_that_tasks_next_step(tmp_path):
    with stepped(tmp_path, TURNS) as (program, trace):
        _wait_for(lambda: _held(trace), "the first hold")
        _command(program, trace, "step")
        _, a, b = _names(trace)
        held = _command(program, trace, "until_task", task=b)
        records_now = _loop_records(trace)
        at = max(i for i, r in enumerate(records_now) if r[0] == schema.PAUSED)
        following = next(r for r in records_now[at + 1 :] if r[0] == schema.QUEUED)
        assert held[2] == schema.POINT_HANDLE and following[1] == b
        assert _order(trace)[-1] == _names(trace)[a]  # a's step ran before it, as queued


def test_until_a_kind_runs_until_one_happened(tmp_path):
    with stepped(tmp_path, TURNS) as (program, trace):
        _wait_for(lambda: _held(trace), "the first hold")
        _command(program, trace, "until", kind="done")
        done = [r for r in _loop_records(trace) if r[0] == schema.STEP_DONE]
        _, _, b = _names(trace)
        assert len(done) == 1 and done[0][2] == b  # b has fewer rounds: it ends first
        _command(program, trace, "until", kind="output")
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
        _wait_for(lambda: len(_handles(trace)) > 5, "the program to run a while")
        _command(program, trace, "pause")
        ran = len(_handles(trace))
        time.sleep(0.3)
        assert len(_handles(trace)) == ran  # held: nothing runs
        _command(program, trace, "step")
        assert len(_handles(trace)) == ran + 1
        program.send("continue")
        _wait_for(lambda: len(_handles(trace)) > ran + 5, "the program to run on")


def test_play_steps_on_by_itself_and_pause_stops_it(tmp_path):
    with stepped(tmp_path, TURNS) as (program, trace):
        _wait_for(lambda: _held(trace), "the first hold")
        program.send("play", interval=0.05)
        _wait_for(lambda: len(_handles(trace)) >= 4, "play to run a few callbacks")
        program.send("pause")  # held where play was, or at its next point
        time.sleep(0.3)
        ran = len(_handles(trace))
        time.sleep(0.3)
        assert len(_handles(trace)) == ran < 19  # it has more to run
        last = [r[0] for r in _loop_records(trace) if r[0] in (schema.PAUSED, schema.RESUMED)]
        assert last[-1] == schema.PAUSED


def test_quitting_a_held_program_ends_it(tmp_path):
    with stepped(tmp_path, TURNS) as (program, trace):
        _wait_for(lambda: _held(trace), "the first hold")
        began = time.monotonic()
        program.stop(grace=5)
        assert time.monotonic() - began < 4  # SIGINT did it: the hold was let go first
