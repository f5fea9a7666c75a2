"""``loopviz record --keep-uvloop``: uvloop's own loop runs the program, and a subclass of it
records what it can see (tasks, steps, waits, timers); the views say what it cannot."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.stepping import load, wait_for
from visualizer.model import UNRECORDED, Model
from visualizer.recorder.acting import BETWEEN_UVLOOP_HANDLES
from visualizer.recorder.install import UVLOOP_KEPT, UVLOOP_REPLACED
from visualizer.runner import Program
from visualizer.trace import schema

LOOPVIZ = [sys.executable, "-m", "visualizer"]
uvloop = pytest.importorskip("uvloop")

# Sleeps, a gather, a failing task, a TCP echo over loopback, a timer, a thread: under uvloop.run.
PROGRAM = """
    import asyncio, sys, time
    import uvloop

    def shout(word):
        time.sleep(0.02)  # long enough that the task waits for the thread
        return word.upper()

    async def echo(reader, writer):
        while line := await reader.readline():
            writer.write(line)
            await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def nap(seconds, result):
        await asyncio.sleep(seconds)
        print("napped", result, asyncio.current_task().get_name())
        return result

    async def fail():
        await asyncio.sleep(0.01)
        raise ValueError("bad input")

    async def main():
        loop = asyncio.get_running_loop()
        print(type(loop).__module__, type(loop).__name__, isinstance(loop, uvloop.Loop))
        print(repr(loop))
        rang = loop.create_future()
        loop.call_later(0.05, rang.set_result, "the timer rang")
        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for word in ("alpha", "beta", "gamma"):
            writer.write(word.encode() + b"\\n")
            await writer.drain()
            print("echoed", (await reader.readline()).decode().strip())
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        print(await asyncio.gather(nap(0.03, "slow"), nap(0.01, "quick")))
        failing = asyncio.create_task(fail(), name="failing")
        try:
            await failing
        except ValueError as exc:
            print("caught", exc)
        print(await asyncio.to_thread(shout, "from a thread"))
        print(await rang, asyncio.current_task().get_name())

    uvloop.run(main())
    sys.exit(3)
"""

# What a wrapped callback must not change: handles, their cancellation and repr, the message and
# traceback an exception in a callback gets, contextvars, current_task, task names.
TRANSPARENCY = """
    import asyncio, contextvars, sys, traceback
    import uvloop

    var = contextvars.ContextVar("var", default="unset")

    def handler(loop, context):
        exc = context.get("exception")
        print("handler:", context["message"], repr(exc), repr(context.get("handle")))
        if exc is not None:
            print("".join(traceback.format_exception(exc)))

    def bad():
        raise RuntimeError("bad callback")

    def show(tag):
        print(tag, var.get(), asyncio.current_task())

    async def child(n):
        var.set(f"child-{n}")
        await asyncio.sleep(0)
        print("child", n, var.get(), asyncio.current_task().get_name())
        return n

    async def main():
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(handler)
        var.set("main")
        handle = loop.call_soon(show, "soon")
        print("handle:", repr(handle), type(handle).__name__, handle.cancelled())
        cancelled = loop.call_soon(show, "never")
        cancelled.cancel()
        print("cancelled:", repr(cancelled), cancelled.cancelled())
        timer = loop.call_later(0.05, show, "later")
        print("timer:", type(timer).__name__, repr(timer))
        loop.call_at(loop.time() + 0.01, show, "never either").cancel()
        loop.call_soon(bad)
        context = contextvars.copy_context()
        context.run(var.set, "in a context")
        loop.call_soon(show, "context", context=context)
        print(await asyncio.gather(*(child(i) for i in range(3))))
        print([task.get_name() for task in asyncio.all_tasks()])
        await asyncio.sleep(0.1)
        print(asyncio.current_task().get_name(), var.get())
        future = loop.create_future()
        loop.call_soon_threadsafe(future.set_result, "threadsafe")
        print(await future)

    uvloop.run(main())
"""


def _write(tmp_path: Path, source: str) -> None:
    (tmp_path / "prog.py").write_text(textwrap.dedent(source))


def _record(tmp_path: Path, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*LOOPVIZ, "record", "-o", str(tmp_path / "prog.lvtrace"), *options, "prog.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def _plain(tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "prog.py"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )


def _loopviz(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*LOOPVIZ, *args], capture_output=True, text=True, timeout=60)


def _addresses_out(text: str) -> str:
    return re.sub(r"0x[0-9a-f]+", "0x…", text)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """PROGRAM recorded with --keep-uvloop (once for the module: it takes a second)."""
    tmp_path = tmp_path_factory.mktemp("keep")
    _write(tmp_path, PROGRAM)
    return tmp_path, _record(tmp_path, "--keep-uvloop")


def _named(model: Model, name: str):  # noqa: ANN202
    (task,) = [task for task in model.tasks if task.name == name]
    return task


@pytest.mark.timeout(60)
def test_kept_uvloop_runs_the_program_as_python_with_uvloop_does(recorded):
    tmp_path, proc = recorded
    plain = _plain(tmp_path)
    assert plain.stdout.startswith("uvloop Loop True\n<uvloop.Loop running=True")
    assert (proc.returncode, proc.stdout) == (plain.returncode, plain.stdout) == (3, plain.stdout)
    assert proc.stderr.count(UVLOOP_KEPT) == 1 and UVLOOP_REPLACED not in proc.stderr


@pytest.mark.timeout(60)
def test_its_loop_is_recorded_from_outside_with_no_select_io_or_ready_queue(recorded):
    tmp_path, _ = recorded
    model = Model.load(str(tmp_path / "prog.lvtrace"))
    assert [text for _, text in model.notes] == [UVLOOP_KEPT]
    (loop,) = model.loops.values()
    assert loop.outside == "uvloop.Loop" and loop.closed is not None
    assert (loop.iterations, loop.select_time, loop.io_events, loop.watchers) == (0, 0, 0, {})
    assert not loop.series.ready_t and not loop.series.iterations
    assert loop.steps > 20 and loop.callbacks > 0 and loop.busy_time > 0
    assert loop.timers_added == 4 and not loop.timers  # call_later, three sleeps: all came due
    assert loop.threadsafe_calls >= 1  # to_thread's future, set from its thread


@pytest.mark.timeout(60)
def test_tasks_steps_waits_and_outcomes_are_recorded(recorded):
    tmp_path, proc = recorded
    model = Model.load(str(tmp_path / "prog.lvtrace"))
    printed = re.findall(r"napped \w+ (\S+)", proc.stdout)
    main = model.tasks[0]
    assert (main.name, main.coro, main.outcome) == ("Task-1", "run.<locals>.wrapper", 0)
    waits = {step.wait for step in main.steps}
    assert {schema.WAIT_IO_READ, schema.WAIT_GATHER, schema.WAIT_TASK, schema.WAIT_THREAD} <= waits
    naps = [task for task in model.tasks if task.coro == "nap"]
    assert sorted(task.name for task in naps) == sorted(printed)  # the names the program saw
    for nap in naps:
        first, last = nap.steps
        assert first.wait == schema.WAIT_SLEEP and last.wait == -1
        assert last.waker is not None and last.waker.describe(model.tasks).startswith("sleep timer")
        assert nap.state.name == "DONE" and nap.parent == main.index
    failing = _named(model, "failing")
    assert failing.state.name == "FAILED" and failing.error.endswith("ValueError: bad input")
    assert "failing fail()" in main.wakers  # its await of the failing task ended with it
    (echo,) = [task for task in model.tasks if task.coro == "echo"]
    assert echo.outcome == 0 and echo.steps[0].wait == schema.WAIT_IO_READ
    assert "streams.py" in echo.site  # made by asyncio's own callback: where in asyncio
    # wakeups by I/O come from uvloop's own code, which the recorder cannot see: and says so
    assert any(UNRECORDED in who for who in echo.wakers)


@pytest.mark.timeout(60)
def test_kept_uvloop_records_the_steps_asyncios_loop_records_for_the_same_tasks(recorded):
    tmp_path, _ = recorded
    kept = Model.load(str(tmp_path / "prog.lvtrace"))
    replaced_trace = tmp_path / "replaced.lvtrace"
    proc = _loopviz("record", "-q", "-o", str(replaced_trace), str(tmp_path / "prog.py"))
    assert proc.returncode == 3, proc.stderr
    replaced = Model.load(str(replaced_trace))

    def steps(model: Model) -> list[tuple[str, list[int]]]:
        return [(task.coro, [step.wait for step in task.steps]) for task in model.tasks
                if task.coro in ("nap", "fail")]  # fmt: skip

    assert steps(kept) == steps(replaced)


@pytest.mark.timeout(60)
def test_the_first_task_is_made_at_the_programs_uvloop_run_line_not_in_uvloop(recorded):
    tmp_path, _ = recorded
    lines = (tmp_path / "prog.py").read_text().splitlines()
    line = lines.index("uvloop.run(main())") + 1
    replaced_trace = tmp_path / "replaced-site.lvtrace"
    proc = _loopviz("record", "-q", "-o", str(replaced_trace), str(tmp_path / "prog.py"))
    assert proc.returncode == 3, proc.stderr
    for trace in (tmp_path / "prog.lvtrace", replaced_trace):
        main = Model.load(str(trace)).tasks[0]
        assert main.site.startswith(f"{tmp_path / 'prog.py'}:{line} in "), (trace, main.site)


@pytest.mark.timeout(60)
def test_summary_says_what_is_not_recorded_under_uvloop(recorded):
    tmp_path, _ = recorded
    trace = str(tmp_path / "prog.lvtrace")
    text = _loopviz("summary", trace)
    assert text.returncode == 0, text.stderr
    words = " ".join(text.stdout.split())
    assert "uvloop.Loop recorded from outside" in words
    assert f"its iterations, select, I/O and ready queue: {UNRECORDED}" in words
    assert "uvloop kept: recorded as a subclass of uvloop.Loop" in words
    summary = json.loads(_loopviz("summary", "--json", trace).stdout)
    (loop,) = summary["loops"]
    assert loop["recorded_from_outside"] == "uvloop.Loop"
    assert (loop["iterations"], loop["select_s"], loop["io_events"]) == (None, None, None)
    assert loop["task_steps"] > 20
    assert {task["name"]: task["outcome"] for task in summary["tasks"]}["failing"] == "failed"


@pytest.mark.timeout(60)
def test_check_checks_a_kept_uvloop_and_says_what_it_could_not_see(recorded):
    tmp_path, _ = recorded
    check = _loopviz("check", str(tmp_path / "prog.lvtrace"))
    assert check.returncode in (0, 1), check.stdout + check.stderr  # 2 was: nothing recorded
    assert UVLOOP_KEPT in check.stderr


@pytest.mark.timeout(60)
def test_a_step_that_blocks_uvloops_loop_is_found_with_where_it_was_stuck(tmp_path: Path):
    _write(tmp_path, """
        import asyncio, time
        import uvloop

        def crunch():
            time.sleep(0.35)

        async def main():
            await asyncio.sleep(0.01)
            crunch()

        uvloop.run(main())
    """)  # fmt: skip
    assert _record(tmp_path, "--keep-uvloop").returncode == 0
    check = _loopviz("check", "--json", str(tmp_path / "prog.lvtrace"))
    assert check.returncode == 1
    (finding,) = json.loads(check.stdout)
    assert finding["rule"] == "loop-blocked" and "Task-1" in finding["message"]
    assert "stuck at prog.py:6 in crunch" in finding["message"]  # the watchdog's samples


@pytest.mark.timeout(60)
def test_wrapped_callbacks_change_nothing_the_program_sees(tmp_path: Path):
    _write(tmp_path, TRANSPARENCY)
    plain = _plain(tmp_path)
    proc = _record(tmp_path, "--keep-uvloop")
    assert plain.returncode == proc.returncode == 0, proc.stderr
    assert _addresses_out(proc.stdout) == _addresses_out(plain.stdout)
    out = plain.stdout
    assert "handle: <Handle show> Handle False" in out
    assert "cancelled: <Handle cancelled> True" in out
    assert "context in a context None" in out and "never" not in out
    assert "handler: Exception in callback <function bad at" in out
    # the callback's own frame comes right after uvloop's: none of loopviz's in between
    assert 'Handle._run\n  File "' + str(tmp_path / "prog.py") + '", line 14, in bad' in out
    assert "child 2 child-2 Task-4" in out and "Task-1 main" in out and "\nthreadsafe\n" in out


@pytest.mark.timeout(60)
def test_a_cancelled_timer_is_recorded_cancelled_and_the_others_due(tmp_path: Path):
    _write(tmp_path, TRANSPARENCY)
    assert _record(tmp_path, "--keep-uvloop").returncode == 0
    (loop,) = Model.load(str(tmp_path / "prog.lvtrace")).loops.values()
    # call_later, call_at (cancelled), the sleep(0.1); sleep(0) makes no timer
    assert (loop.timers_added, loop.timers_cancelled, loop.timers_due) == (3, 1, 2)


@pytest.mark.timeout(60)
def test_step_refuses_to_keep_uvloop_in_one_line(tmp_path: Path):
    _write(tmp_path, PROGRAM)
    proc = subprocess.run([*LOOPVIZ, "step", "--keep-uvloop", "prog.py"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.startswith("loopviz: error: step cannot keep uvloop: the stepper holds")
    assert proc.stderr.count("\n") == 1 and "loopviz run --keep-uvloop" in proc.stderr


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("keep", "state"), [(True, BETWEEN_UVLOOP_HANDLES), (False, "waiting for I/O")]
)
def test_a_stack_dump_says_waiting_for_io_only_of_a_loop_it_can_see_wait(
    tmp_path: Path, keep: bool, state: str
):
    _write(tmp_path, """
        import asyncio
        import uvloop

        async def main():
            await asyncio.sleep(30)

        uvloop.run(main())
    """)  # fmt: skip
    trace = tmp_path / "prog.lvtrace"
    program = Program(["prog.py"], None, str(trace), cwd=str(tmp_path), keep_uvloop=keep)
    program.start()
    try:
        wait_for(lambda: any(task.steps for task in load(trace).tasks), "main's first step")
        program.send("dump", path=str(tmp_path / "stacks.txt"))  # the viewer's D
        wait_for(lambda: load(trace).answers, "the dump's answer")
    finally:
        program.stop()
        program.finish()
    text = (tmp_path / "stacks.txt").read_text()
    assert text.startswith(f"== loop 1 ({state})\n"), text
