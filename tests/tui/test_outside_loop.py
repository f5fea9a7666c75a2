"""The viewer on uvloop's loop kept with --keep-uvloop: it shows what a subclass saw, and says in
words what it could not see, instead of drawing an empty ready queue or an idle select."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from tui_helpers import drive, screen_text

from visualizer.model import UNRECORDED
from visualizer.runner import Program
from visualizer.tui.app import LoopvizApp
from visualizer.tui.session import Session

pytest.importorskip("uvloop")

PROGRAM = """
    import asyncio, uvloop

    async def nap(seconds):
        await asyncio.sleep(seconds)

    async def main():
        print("started", flush=True)
        await asyncio.gather(nap(0.01), nap(0.02))
        await asyncio.sleep(SLEEP)

    uvloop.run(main())
"""


def _script(tmp_path: Path, sleep: float) -> Path:
    script = tmp_path / "prog.py"
    script.write_text(textwrap.dedent(PROGRAM).replace("SLEEP", str(sleep)))
    return script


@pytest.fixture
def kept_trace(tmp_path: Path) -> Path:
    trace = tmp_path / "prog.lvtrace"
    script = _script(tmp_path, 0.01)
    command = [sys.executable, "-m", "visualizer", "record", "-q", "-o", str(trace),
               "--keep-uvloop", str(script)]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, timeout=60)
    return trace


@pytest.mark.timeout(60)
def test_the_loop_pane_says_what_is_not_recorded_under_uvloop(kept_trace):
    async def look(app, pilot):
        return screen_text(app)

    text = drive(kept_trace, look, size=(120, 36))
    assert "uvloop kept: recorded as a subclass of uvloop.Loop" in text  # the header's note
    # the loop pane (a third of the width) wraps its words over a few lines
    assert "uvloop  seen from outside: its iterations," in text and "under uvloop" in text
    assert "ready 0" not in text and "select 0%" not in text  # no made-up numbers


@pytest.mark.timeout(60)
def test_the_timeline_draws_no_ready_queue_for_uvloop_and_says_why(kept_trace):
    async def look(app, pilot):
        await pilot.press("t")
        app.tick()
        await pilot.pause()
        return screen_text(app).splitlines()

    lines = drive(kept_trace, look)
    (ready,) = [line for line in lines if line.startswith("│ready queue")]
    assert ready.split("│")[2].strip() == UNRECORDED
    assert any("loop 1 uvloop" in line and "█" in line for line in lines)  # the handles it saw


@pytest.mark.timeout(60)
def test_the_internals_view_says_uvloop_cannot_be_held_and_lists_its_timers(kept_trace):
    async def look(app, pilot):
        await pilot.press("v")
        app.tick()
        await pilot.pause()
        return " ".join(screen_text(app).split())

    text = drive(kept_trace, look)
    assert "uvloop.Loop, seen from outside" in text
    assert "the stepper cannot hold it" in text and "timers (0)" in text


@pytest.mark.timeout(60)
def test_pausing_a_live_kept_uvloop_program_says_it_cannot_be_held(tmp_path: Path):
    trace = str(tmp_path / "prog.lvtrace")
    program = Program([str(_script(tmp_path, 3))], None, trace, keep_uvloop=True)
    session = Session(trace, program, title="prog.py")

    async def main() -> list[str]:
        app = LoopvizApp(session)
        async with app.run_test(size=(120, 36)) as pilot:
            deadline = time.monotonic() + 20
            while "started" not in screen_text(app) and time.monotonic() < deadline:
                app.tick()
                await pilot.pause(0.1)
            await pilot.press("space")
            await pilot.pause()
            said: list[Any] = [note.message for note in app._notifications]
            return said

    try:
        said = asyncio.run(main())
    finally:
        session.close(grace=0.5)
    assert any("has no step points loopviz can hold it at" in words for words in said), said
