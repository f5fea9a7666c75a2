"""The watchdog: where a loop is stuck in one handle, sampled while it is stuck, and nothing when
it is not (waiting in select, held by the stepper, or running short handles)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import replay_bytes, task_named
from tests.stepping import load, stepped, wait_for
from visualizer import record
from visualizer.model import Model
from visualizer.model.diagnose import diagnose
from visualizer.recorder import core
from visualizer.recorder.watchdog import Watchdog

CRUNCH = """
import asyncio, time

def crunch():
    time.sleep(0.35)

async def main():
    await asyncio.sleep(0.01)
    crunch()
    await asyncio.sleep(0.01)

asyncio.run(main())
"""


def _record(tmp_path: Path, source: str) -> Model:
    return _record_with_stderr(tmp_path, source)[0]


def _record_with_stderr(tmp_path: Path, source: str) -> tuple[Model, str]:
    script = tmp_path / "prog.py"
    script.write_text(source)
    trace = tmp_path / "prog.lvtrace"
    env = {**os.environ, "PYTHONWARNINGS": "always::DeprecationWarning"}
    done = subprocess.run([sys.executable, "-m", "visualizer", "record", "-q", "-o", str(trace),
                           str(script)], check=True, capture_output=True, text=True, timeout=60,
                          env=env)  # fmt: skip
    return Model.load(trace), done.stderr


def test_a_stuck_loop_is_sampled_where_it_is_stuck(tmp_path):
    model = _record(tmp_path, CRUNCH)
    assert len(model.stacks) >= 2  # one every 100 ms from 100 ms on, through 350 ms
    assert {sample.where.rpartition("/")[2] for sample in model.stacks} == {"prog.py:5 in crunch"}
    assert model.stacks[0].frames[-2].endswith("prog.py:9 in main")  # the line that called it
    (finding,) = diagnose(model)
    assert finding.rule == "loop-blocked" and "stuck at prog.py:5 in crunch" in finding.sentence


FORKS = """
import asyncio, os, time

def crunch():
    time.sleep(0.35)

async def main():
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    await asyncio.sleep(0.01)
    crunch()
    await asyncio.sleep(0.01)

asyncio.run(main())
"""
THREADS_COUNTED_AFTER_FORK_HOOKS = (3, 12) <= sys.version_info < (3, 14)


@pytest.mark.parametrize("blocks", ["in-a-later-step", "in-the-same-step"])
def test_the_watchdog_goes_on_after_a_fork_and_the_child_inherits_no_thread(tmp_path, blocks):
    source = FORKS
    if blocks == "in-the-same-step":
        if THREADS_COUNTED_AFTER_FORK_HOOKS:
            pytest.skip("3.12/3.13: the watchdog starts again at the loop's next write")
        source = source.replace("    await asyncio.sleep(0.01)\n    crunch()", "    crunch()")
    model, stderr = _record_with_stderr(tmp_path, source)
    # the parent's watchdog thread was started again after the fork: the block is sampled
    assert len(model.stacks) >= 2
    assert {sample.where.rpartition("/")[2] for sample in model.stacks} == {"prog.py:5 in crunch"}
    # and it was not running as os.fork() counted threads (3.12+ warn when there are some):
    # this program has none of its own, and under python gets no warning
    assert "multi-threaded, use of fork() may lead to deadlocks" not in stderr, stderr


def test_short_handles_and_long_waits_are_not_sampled(tmp_path):
    model = _record(
        tmp_path,
        """
import asyncio, time

async def main():
    for _ in range(5):
        time.sleep(0.04)  # under the 100 ms threshold each time
        await asyncio.sleep(0.1)  # waiting in select: not stuck
    await asyncio.sleep(0.3)

asyncio.run(main())
""",
    )
    assert model.stacks == []


def test_a_loop_held_by_the_stepper_is_not_stuck(tmp_path):
    with stepped(tmp_path, CRUNCH.replace("time.sleep(0.35)", "pass")) as (program, trace):
        wait_for(lambda: trace.stat().st_size > 0 and Model.load(trace).loops, "the first hold")
        time.sleep(0.5)  # held: no handle runs
        program.send("continue")
        wait_for(lambda: program.poll() is not None, "the program to end")
    assert Model.load(trace).stacks == []


def test_a_loop_stuck_now_is_a_warning_before_its_handle_ends(tmp_path):
    source = """
    import asyncio, time

    async def main():
        time.sleep(3)  # in its very first step
        await asyncio.sleep(0)

    asyncio.run(main())
    """
    with stepped(tmp_path, source, step=False) as (program, trace):
        wait_for(lambda: len(load(trace).stacks) >= 3, "the watchdog's samples")
        model = load(trace)
        found = {finding.rule: finding for finding in diagnose(model)}
    # the loop's own records (main's TASK_NEW) are still in its buffer: the sample names it
    assert model.stacks[-1].label == "Task-1 main()" or model.stacks[-1].label.endswith(" main()")
    blocked = found["loop-blocked"]
    assert blocked.sentence.startswith(model.stacks[-1].label + " has held loop 1 for")
    assert "so far, stuck at prog.py:5 in main" in blocked.sentence


def _sampled_while_stuck(
    main: Callable[[threading.Event, threading.Event], Coroutine[Any, Any, None]],
) -> Model:
    """Run `main(inside, release)` recorded; once a handle sets `inside` and waits for `release`,
    this thread looks at the loop as the watchdog's thread does (0.3 s stuck, by its count),
    then releases it. Returns the model of the trace, samples and all."""
    inside, release = threading.Event(), threading.Event()
    with record() as recording:
        dog = Watchdog(core.current(), threshold=0.1)

        def look_while_stuck() -> None:
            try:
                if inside.wait(10):
                    for _ in range(7):  # the first look takes note, six more see 0.3 s stuck
                        dog.look(0.05)
            finally:
                release.set()

        looker = threading.Thread(target=look_while_stuck)
        looker.start()
        try:
            asyncio.run(main(inside, release))
        finally:
            release.set()
            looker.join()
    return replay_bytes(recording.data())


def _block(inside: threading.Event, release: threading.Event) -> None:
    inside.set()
    release.wait(10)  # the loop's thread is held here, in one handle


@pytest.mark.parametrize("eager", [False, True], ids=["task", "eager-first-step"])
def test_a_sample_names_the_task_whose_step_holds_the_loop(eager):
    # 3.11-3.13 keep the current task in asyncio.tasks._current_tasks; 3.14+ in the loop
    # thread's state (that dict stays empty): the watchdog's thread must find it either way.
    if eager and sys.version_info < (3, 12):
        pytest.skip("eager tasks are 3.12+")

    async def stuck(inside, release):
        _block(inside, release)
        await asyncio.sleep(0)

    async def main(inside, release):
        await asyncio.sleep(0)  # main's step is over: the stuck step is the other task's
        if eager:
            asyncio.get_running_loop().set_task_factory(asyncio.eager_task_factory)
        await asyncio.create_task(stuck(inside, release), name="stuck")

    model = _sampled_while_stuck(main)
    assert len(model.stacks) == 3  # at 0.1, 0.2 and 0.3 s
    stuck_task = task_named(model, "stuck")
    for sample in model.stacks:
        # (the task's own records may come after the samples: the label is what says which)
        name, _, coro = sample.label.partition(" ")
        assert coro == f"{stuck_task.coro}()", sample.label
        if eager and sys.version_info < (3, 14):
            # 3.12-3.13 name a factory's task after its eager first step: it had its default name
            assert name.startswith("Task-"), sample.label
        else:
            assert name == "stuck", sample.label
        assert any(frame.endswith(" in _block") for frame in sample.frames)


def test_a_sample_of_a_plain_callback_names_no_task():
    # the task that ran just before the callback is not the one holding the loop
    async def main(inside, release):
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        loop.call_soon(lambda: (_block(inside, release), done.set_result(None)))
        await done

    model = _sampled_while_stuck(main)
    assert len(model.stacks) == 3
    for sample in model.stacks:
        assert sample.task is None and sample.label == ""
        assert any(frame.endswith(" in _block") for frame in sample.frames)
