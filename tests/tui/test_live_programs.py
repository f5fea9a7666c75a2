"""The viewer on live programs: it follows them as they run and says how they ended."""

from __future__ import annotations

import asyncio
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from tui_helpers import screen_text

from visualizer.runner import Program
from visualizer.tui.app import LoopvizApp
from visualizer.tui.session import Session
from visualizer.tui.widgets.output import OutputView


def _script(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "prog.py"
    path.write_text(textwrap.dedent(source))
    return path


def _session(tmp_path: Path, script: Path) -> Session:
    trace = str(tmp_path / "prog.lvtrace")
    return Session(trace, Program([str(script)], None, trace), title="prog.py")


async def _until(app: LoopvizApp, pilot: Any, check: Any, timeout: float = 20.0) -> str:
    """Redraw until `check(screen text)` holds; return the last screen text."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        app.tick()
        await pilot.pause(0.1)
        text = screen_text(app)
        if check(text):
            if app.session.status is not None:  # ended: let the viewer read the last records
                while not app.session.finished and time.monotonic() < deadline:
                    await pilot.pause(0.05)
                app.tick()
                await pilot.pause()
                text = screen_text(app)
            return text
    raise AssertionError(f"the screen never showed what was expected:\n{text}")


def _watch(tmp_path: Path, source: str, check: Any, size: tuple[int, int] = (140, 40)) -> Any:
    session = _session(tmp_path, _script(tmp_path, source))

    async def main() -> Any:
        app = LoopvizApp(session)
        async with app.run_test(size=size) as pilot:
            text = await _until(app, pilot, check)
            output = [line for _, _, line in app.query_one("#output", OutputView).lines]
            return text, output, app

    try:
        return asyncio.run(main())
    finally:
        session.close(grace=0.5)


def test_a_program_that_prints_sleeps_fails_and_exits_nonzero(tmp_path):
    source = """
        import asyncio, sys

        async def sleeper():
            await asyncio.sleep(30)

        async def main():
            asyncio.create_task(sleeper(), name="sleeper")
            print("starting")
            print("warming up", file=sys.stderr)
            await asyncio.sleep(0.3)
            raise ValueError("the answer was wrong")

        asyncio.run(main())
    """
    text, output, _ = _watch(tmp_path, source, lambda text: "exited 1" in text)
    assert "■ exited 1: ValueError: the answer was wrong" in text
    assert "sleeper" in text and "⊘ cancelled" in text  # asyncio.run cancelled it
    assert output[:2] == ["starting", "warming up"]
    assert any("ValueError: the answer was wrong" in line for line in output)  # the traceback


def test_a_running_program_shows_its_tasks_waiting(tmp_path):
    source = """
        import asyncio

        async def main():
            queue = asyncio.Queue()
            consumer = asyncio.create_task(queue.get(), name="consumer")
            print("ready", flush=True)
            await asyncio.sleep(60)

        asyncio.run(main())
    """
    text, output, app = _watch(tmp_path, source, lambda text: "Queue.get" in text)
    assert "▶ running" in text and "consumer" in text and "◔ sleeping" in text
    assert "sleep 5" in text  # about 59 s left on main's sleep
    assert output == ["ready"]


def test_a_syntax_error_is_shown_not_fatal(tmp_path):
    text, output, _ = _watch(tmp_path, "def broken(:\n", lambda text: "exited 1" in text)
    assert "SyntaxError" in "\n".join(output)
    assert "no asyncio event loop was recorded" in text


def test_a_script_raising_at_import(tmp_path):
    source = "import no_such_module_here\n"
    text, output, _ = _watch(tmp_path, source, lambda text: "exited 1" in text)
    assert "ModuleNotFoundError" in text or "ModuleNotFoundError" in "\n".join(output)


def test_a_program_that_never_uses_asyncio(tmp_path):
    text, output, _ = _watch(tmp_path, "print('plain old python')\n",
                             lambda text: "exited 0" in text)  # fmt: skip
    assert "no asyncio event loop was recorded" in text
    assert output == ["plain old python"]


def test_raw_fd_output_and_subprocess_output_show_too(tmp_path):
    source = """
        import os, subprocess
        os.write(1, b"written to fd 1\\n")
        subprocess.run(["echo", "from a child process"])
    """
    _, output, _ = _watch(tmp_path, source, lambda text: "exited 0" in text)
    assert "written to fd 1" in output and "from a child process" in output


def test_a_program_blocking_its_loop_is_shown_blocked(tmp_path):
    source = """
        import asyncio, time

        async def main():
            await asyncio.sleep(0.2)
            time.sleep(5)

        asyncio.run(main())
    """
    text, _, _ = _watch(tmp_path, source, lambda text: "BLOCKED" in text and " at " in text)
    assert "▶ running" in text and "s in one callback" in text
    assert "prog.py:6 in main" in text  # where the watchdog saw it stuck: the time.sleep


def test_a_loop_blocked_before_its_first_records_is_shown_blocked_and_where(tmp_path):
    source = """
        import asyncio, time

        async def main():
            time.sleep(5)  # in its first step: the loop has written nothing yet

        asyncio.run(main())
    """
    text, _, _ = _watch(tmp_path, source, lambda text: "in its first callback" in text)
    assert "BLOCKED" in text and "prog.py:5 in main" in text and "main()" in text
    assert "⚠ 1 warning (W)" in text  # loop-blocked, from the watchdog's samples alone


@pytest.mark.parametrize("megabytes", [50])
def test_a_program_printing_megabytes_keeps_the_viewer_alive(tmp_path, megabytes):
    source = f"""
        line = "x" * 99
        for n in range({megabytes} * 10_000):
            print(line)
        print("the end")
    """
    text, output, _ = _watch(tmp_path, source, lambda text: "exited 0" in text)
    assert output[-1] == "the end"


def _ticking_program(tmp_path: Path) -> Session:
    source = """
        import asyncio

        async def main():
            for n in range(10_000):
                print("tick", n, flush=True)
                await asyncio.sleep(0.02)

        asyncio.run(main())
    """
    return _session(tmp_path, _script(tmp_path, source))


def test_space_holds_the_running_program_and_lets_it_run_on(tmp_path):
    session = _ticking_program(tmp_path)

    async def main() -> tuple[str, int, int, int]:
        app = LoopvizApp(session)
        async with app.run_test(size=(120, 36)) as pilot:
            await _until(app, pilot, lambda text: "tick 5" in text)
            await pilot.press("space")
            held_text = await _until(app, pilot, lambda text: "⏸ held" in text)
            view = app.query_one("#output", OutputView)
            before = view.total
            await pilot.pause(0.6)
            app.tick()
            frozen = view.total
            await pilot.press("space")
            await _until(app, pilot, lambda text: view.total > frozen + 5)
            return held_text, before, frozen, view.total

    try:
        text, before, frozen, after = asyncio.run(main())
    finally:
        session.close(grace=0.5)
    assert "▶ running" not in text and "Loop 1 internals" in text  # the stepper's view opens
    assert frozen == before and after > frozen  # held: it printed nothing until let go


def test_r_restarts_the_program(tmp_path):
    session = _ticking_program(tmp_path)
    sessions = [session]

    def again() -> Session:
        sessions.append(_ticking_program(tmp_path / "again"))
        return sessions[-1]

    (tmp_path / "again").mkdir()

    async def main() -> tuple[int | None, int | None, str]:
        app = LoopvizApp(session, again)
        async with app.run_test(size=(120, 36)) as pilot:
            await _until(app, pilot, lambda text: "tick 3" in text)
            first = session.program.pid
            await pilot.press("r")
            deadline = time.monotonic() + 20
            while app.session is session and time.monotonic() < deadline:
                await pilot.pause(0.1)
            text = await _until(app, pilot, lambda text: "tick 3" in text)
            return first, app.session.program.pid, text

    try:
        first, second, text = asyncio.run(main())
    finally:
        for each in sessions:
            each.close(grace=0.5)
    assert first != second and second is not None
    assert session.status is not None  # the first run was stopped
    assert f"pid {second}" in text
