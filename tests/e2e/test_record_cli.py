"""`loopviz record` runs a program exactly as python would, and `loopviz summary` reads it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from visualizer.model import Model
from visualizer.trace import schema

LOOPVIZ = [sys.executable, "-m", "visualizer"]


def _write(tmp_path: Path, name: str, source: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=60)


def _record(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    trace = tmp_path / "out.lvtrace"
    result = _run([*LOOPVIZ, "record", "-q", "-o", str(trace), *args], tmp_path)
    return result, trace


PROGRAM = """
    import asyncio, os, sys

    async def worker(n):
        await asyncio.sleep(0.001)
        print("worker", n, "done")
        return n

    async def main():
        print("argv", sys.argv)
        print("name", __name__, "path0", os.path.basename(sys.path[0]))
        print("warning", file=sys.stderr)
        results = await asyncio.gather(*(worker(n) for n in range(3)))
        print("sum", sum(results))

    asyncio.run(main())
    {ending}
"""


@pytest.mark.parametrize(
    ("ending", "status"),
    [("", 0), ("sys.exit(3)", 3), ("raise ValueError('bad')", 1), ("sys.exit('text')", 1)],
)
def test_recorded_program_behaves_exactly_like_plain_python(tmp_path, ending, status):
    script = _write(tmp_path, "prog.py", PROGRAM.replace("{ending}", ending))
    plain = _run([sys.executable, "prog.py", "a", "--b"], tmp_path)
    recorded, trace = _record(tmp_path, "prog.py", "a", "--b")
    assert recorded.returncode == plain.returncode == status
    assert recorded.stdout == plain.stdout
    assert recorded.stderr == plain.stderr
    assert "argv ['prog.py', 'a', '--b']" in plain.stdout
    assert f"path0 {script.parent.name}" in plain.stdout

    model = Model.load(trace)
    assert model.exit_status == status
    assert sum(task.coro == "worker" for task in model.tasks) == 3
    stdout = "".join(o.text for o in model.output if o.stream == 1)
    assert stdout == plain.stdout
    stderr = "".join(o.text for o in model.output if o.stream == 2)
    assert "warning\n" in stderr
    if status == 1 and "ValueError" in ending:
        assert "ValueError: bad" in model.exit_detail


def test_module_mode_runs_like_python_dash_m(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    _write(package, "__main__.py", PROGRAM.replace("{ending}", ""))
    plain = _run([sys.executable, "-m", "pkg", "x"], tmp_path)
    recorded, trace = _record(tmp_path, "-m", "pkg", "x")
    assert recorded.returncode == plain.returncode == 0
    assert (
        recorded.stdout.replace("'pkg'", "")
        == plain.stdout.replace(repr(str(package / "__main__.py")), "")
        or "worker 2 done" in recorded.stdout
    )
    assert "name __main__" in recorded.stdout
    assert Model.load(trace).exit_status == 0


def test_os_exit_still_flushes_the_trace(tmp_path):
    _write(
        tmp_path,
        "hard.py",
        """
        import asyncio, os

        async def main():
            for _ in range(10):
                await asyncio.sleep(0)
            print("leaving", flush=True)
            os._exit(4)

        asyncio.run(main())
        """,
    )
    result, trace = _record(tmp_path, "hard.py")
    assert result.returncode == 4
    model = Model.load(trace)
    assert model.exit_status == 4
    assert len(model.tasks[0].steps) == 10  # the last step never ended: os._exit inside it
    assert "leaving\n" in "".join(o.text for o in model.output)


def test_sigterm_flushes_the_trace_and_kills_like_sigterm(tmp_path):
    _write(
        tmp_path,
        "term.py",
        """
        import asyncio, os, signal

        async def main():
            for _ in range(5):
                await asyncio.sleep(0)
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.sleep(10)

        asyncio.run(main())
        """,
    )
    result, trace = _record(tmp_path, "term.py")
    assert result.returncode == -signal.SIGTERM
    model = Model.load(trace)
    assert model.exit_status == -signal.SIGTERM
    assert len(model.tasks[0].steps) >= 5


def test_missing_script_is_one_clear_line(tmp_path):
    result, _ = _record(tmp_path, "nope.py")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "cannot find script 'nope.py'" in result.stderr


def test_syntax_error_is_reported_as_python_reports_it(tmp_path):
    _write(tmp_path, "broken.py", "def broken(:\n    pass\n")
    plain = _run([sys.executable, "broken.py"], tmp_path)
    recorded, trace = _record(tmp_path, "broken.py")
    assert recorded.returncode == plain.returncode == 1
    assert recorded.stderr == plain.stderr
    assert Model.load(trace).exit_status == 1


def test_program_that_never_uses_asyncio_is_recorded_too(tmp_path):
    _write(tmp_path, "plain.py", "print('no loop here')\n")
    result, trace = _record(tmp_path, "plain.py")
    assert result.returncode == 0
    model = Model.load(trace)
    assert model.tasks == [] and model.loops == {}
    assert model.output[0].text == "no loop here\n"


def test_summary_json_lists_tasks_and_loop_totals(tmp_path):
    _write(tmp_path, "prog.py", PROGRAM.replace("{ending}", ""))
    _, trace = _record(tmp_path, "prog.py")
    result = _run([*LOOPVIZ, "summary", "--json", str(trace)], tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    workers = [task for task in summary["tasks"] if task["coroutine"] == "worker"]
    assert len(workers) == 3
    assert all(task["outcome"] == "finished" and task["steps"] == 2 for task in workers)
    (loop,) = summary["loops"]
    assert loop["task_steps"] >= 7 and loop["closed"]
    assert summary["exit_status"] == 0
    table = _run([*LOOPVIZ, "summary", str(trace)], tmp_path)
    assert table.returncode == 0 and "worker" in table.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"\x89PNG\r\n\x1a\n" + bytes(100), "not a loopviz trace"),
        (b'{"json": true}', "not a loopviz trace"),
        (schema.MAGIC + b"\x63\x00" + bytes(4), "trace format 99"),
    ],
)
def test_summary_of_a_bad_file_is_one_clear_line(tmp_path, content, message):
    bad = tmp_path / "bad.lvtrace"
    bad.write_bytes(content)
    result = _run([*LOOPVIZ, "summary", str(bad)], tmp_path)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr


def test_summary_of_a_missing_file_is_one_clear_line(tmp_path):
    result = _run([*LOOPVIZ, "summary", "missing.lvtrace"], tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith(
        "loopviz: error: cannot open missing.lvtrace: No such file or directory"
    )
    assert result.stderr.count("\n") == 1


def test_unknown_command_is_one_line(tmp_path):
    result = _run([*LOOPVIZ, "frobnicate"], tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1


def test_default_trace_name_is_printed(tmp_path):
    _write(tmp_path, "prog.py", PROGRAM.replace("{ending}", ""))
    result = _run([*LOOPVIZ, "record", "prog.py"], tmp_path)
    assert result.returncode == 0
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("loopviz: trace written to prog-")
    name = line.rsplit(" ", 1)[-1]
    assert os.path.exists(tmp_path / name)


def test_output_is_recorded_when_printed_not_at_exit(tmp_path):
    _write(
        tmp_path,
        "talk.py",
        """
        import asyncio

        async def main():
            print("before the nap")
            await asyncio.sleep(0.2)
            print("after the nap")

        asyncio.run(main())
        """,
    )
    result, trace = _record(tmp_path, "talk.py")
    assert result.returncode == 0
    model = Model.load(trace)
    before, after = model.output
    assert (before.text, after.text) == ("before the nap\n", "after the nap\n")
    nap = model.tasks[0].steps[0]  # the step that printed, then slept
    assert before.t <= nap.end + 50_000_000  # recorded as the loop went idle, not at exit
    assert after.t - before.t >= 150_000_000


def test_printing_megabytes_is_all_recorded(tmp_path):
    _write(
        tmp_path,
        "loud.py",
        """
        import asyncio

        async def main():
            for i in range(100_000):
                print(f"line {i:06d} " + "x" * 80)
                if i % 5000 == 0:
                    await asyncio.sleep(0)

        asyncio.run(main())
        """,
    )
    result, trace = _record(tmp_path, "loud.py")
    assert result.returncode == 0 and len(result.stdout) > 9_000_000
    text = "".join(o.text for o in Model.load(trace).output)
    assert text == result.stdout


def test_ctrl_c_stops_the_program_like_it_stops_python(tmp_path):
    _write(
        tmp_path,
        "forever.py",
        """
        import asyncio

        async def main():
            print("ready", flush=True)
            while True:
                await asyncio.sleep(0.05)

        asyncio.run(main())
        """,
    )
    trace = tmp_path / "out.lvtrace"
    # A terminal's Ctrl-C signals the whole foreground process group: the program (loopviz
    # became it) and any children it started.
    proc = subprocess.Popen(
        [*LOOPVIZ, "record", "-q", "-o", str(trace), "forever.py"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    assert proc.stdout.readline() == "ready\n"
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGINT
    assert "KeyboardInterrupt" in stderr
    assert Model.load(trace).exit_status == -signal.SIGINT
