"""The watchdog: where a loop is stuck in one handle, sampled while it is stuck, and nothing when
it is not (waiting in select, held by the stepper, or running short handles)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.stepping import load, stepped, wait_for
from visualizer.model import Model
from visualizer.model.diagnose import diagnose

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
    script = tmp_path / "prog.py"
    script.write_text(source)
    trace = tmp_path / "prog.lvtrace"
    subprocess.run([sys.executable, "-m", "visualizer", "record", "-q", "-o", str(trace),
                    str(script)], check=True, capture_output=True, timeout=60)  # fmt: skip
    return Model.load(trace)


def test_a_stuck_loop_is_sampled_where_it_is_stuck(tmp_path):
    model = _record(tmp_path, CRUNCH)
    assert len(model.stacks) >= 2  # one every 100 ms from 100 ms on, through 350 ms
    assert {sample.where.rpartition("/")[2] for sample in model.stacks} == {"prog.py:5 in crunch"}
    assert model.stacks[0].frames[-2].endswith("prog.py:9 in main")  # the line that called it
    (finding,) = diagnose(model)
    assert finding.rule == "loop-blocked" and "stuck at prog.py:5 in crunch" in finding.sentence


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
