"""`Program` runs a program under the agent for a viewer: quiet, contained, and always ended."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

import visualizer
from visualizer import runner
from visualizer.model import Model
from visualizer.runner import RAW_STDERR, RAW_STDOUT, Program
from visualizer.trace import schema
from visualizer.trace.format import LENGTH, PREFIX
from visualizer.trace.reader import read_trace

ROOT = Path(__file__).resolve().parents[2]
# Deadlines, not expected durations: each test takes well under a second on an idle machine.
DEADLINE = 10.0


def _write(tmp_path: Path, source: str, name: str = "prog.py") -> str:
    (tmp_path / name).write_text(textwrap.dedent(source))
    return name


def _start(tmp_path: Path, source: str) -> Program:
    name = _write(tmp_path, source)
    program = Program([name], None, str(tmp_path / "out.lvtrace"), cwd=str(tmp_path))
    program.start()
    return program


def _wait_for(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def _run(tmp_path: Path, source: str) -> Program:
    """Run a program to its end, finish its trace, and return it."""
    program = _start(tmp_path, source)
    try:
        _wait_for(lambda: program.poll() is not None, "the program to exit")
    finally:
        program.stop()
    program.finish()
    return program


def _text(chunks: list[tuple[int, int, str]], stream: int) -> str:
    return "".join(text for _, s, text in chunks if s == stream)


def _output(model: Model, stream: int) -> str:
    return "".join(o.text for o in model.output if o.stream == stream)


def _wait_output(program: Program, taken: list[tuple[int, int, str]], text: str) -> str:
    """Take output until `text` arrives on fd 1; return all fd 1 text so far."""

    def arrived() -> bool:
        taken.extend(program.take_output())
        return text in _text(taken, 1)

    _wait_for(arrived, repr(text))
    return _text(taken, 1)


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie doesn't: here nobody may reap orphans)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            stat = file.read()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(b")") + 2 :][:1] not in (b"Z", b"X")


def test_printed_output_goes_into_the_trace_and_nowhere_else(tmp_path, capfd):
    program = _run(
        tmp_path,
        """
        import asyncio, sys

        async def main():
            print("stdin gives", repr(sys.stdin.read()))
            print("to stderr", file=sys.stderr)

        asyncio.run(main())
        """,
    )
    assert program.poll() == 0
    assert program.take_output() == []
    model = Model.load(program.trace_path)
    assert _output(model, 1) == "stdin gives ''\n"
    assert _output(model, 2) == "to stderr\n"
    assert capfd.readouterr() == ("", "")


def test_output_below_sys_stdout_comes_back_through_take_output(tmp_path):
    program = _run(
        tmp_path,
        """
        import os, subprocess
        os.write(1, b"raw out\\n")
        os.write(2, "raw err \\u00e9\\n".encode())
        subprocess.run(["echo", "from a subprocess"])
        """,
    )
    chunks = program.take_output()
    assert _text(chunks, 1) == "raw out\nfrom a subprocess\n"
    assert _text(chunks, 2) == "raw err é\n"
    assert [t for t, _, _ in chunks] == sorted(t for t, _, _ in chunks)
    assert program.take_output() == []

    model = Model.load(program.trace_path)
    assert _output(model, RAW_STDOUT) == "raw out\nfrom a subprocess\n"
    assert _output(model, RAW_STDERR) == "raw err é\n"
    assert _output(model, 1) == _output(model, 2) == ""


def test_text_printed_at_exit_is_recorded_and_after_the_trace_closed_still_comes_back(tmp_path):
    program = _run(
        tmp_path,
        """
        import atexit
        atexit.register(print, "at exit")  # runs before the agent finishes the trace

        class Late:
            def __del__(self):
                print("at teardown")  # after it: the interpreter clears __main__

        late = Late()
        """,
    )
    assert _text(program.take_output(), 1) == "at teardown\n"
    model = Model.load(program.trace_path)
    assert _output(model, 1) == "at exit\n"
    assert _output(model, RAW_STDOUT) == "at teardown\n"


def test_module_runs_as_main_in_the_given_directory(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    _write(tmp_path / "pkg", "import sys; print(__name__, sys.argv[1:])", "__main__.py")
    program = Program(["x"], "pkg", str(tmp_path / "out.lvtrace"), cwd=str(tmp_path))
    program.start()
    _wait_for(lambda: program.poll() is not None, "the program to exit")
    program.finish()
    assert program.poll() == 0
    assert _output(Model.load(program.trace_path), 1) == "__main__ ['x']\n"


@pytest.mark.parametrize(
    ("source", "status"),
    [
        ("print('fine')", 0),
        ("import sys; sys.exit(3)", 3),
        ("raise ValueError('bad')", 1),
        ("import os; os._exit(7)", 7),
        ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", -signal.SIGKILL),
        ("def broken(:\n    pass", 1),
    ],
    ids=["normal", "sys.exit", "exception", "os._exit", "killed", "syntax-error"],
)
def test_exit_status_is_the_programs_own(tmp_path, source, status):
    program = _run(tmp_path, source)
    assert program.poll() == status
    assert not read_trace(program.trace_path).truncated
    model = Model.load(program.trace_path)
    assert model.exit_status == status
    if "ValueError" in source:
        assert "ValueError: bad" in model.exit_detail
        assert "ValueError: bad" in _output(model, 2)
    if "broken" in source:
        assert "SyntaxError" in _output(model, 2)


def test_finish_is_idempotent(tmp_path):
    program = _run(tmp_path, "import os; os.write(1, b'once\\n')")
    size = os.path.getsize(program.trace_path)
    program.finish()
    assert os.path.getsize(program.trace_path) == size
    assert _output(Model.load(program.trace_path), RAW_STDOUT) == "once\n"


def test_finish_before_the_program_ended_is_refused(tmp_path):
    program = _start(tmp_path, "import time; time.sleep(100)")
    try:
        with pytest.raises(RuntimeError, match="stop"):
            program.finish()
    finally:
        program.stop(grace=0.1)


def test_stop_interrupts_the_program_like_ctrl_c(tmp_path):
    program = _start(
        tmp_path,
        """
        import asyncio, os

        async def main():
            os.write(1, b"ready\\n")
            await asyncio.sleep(100)

        asyncio.run(main())
        """,
    )
    _wait_output(program, [], "ready")
    assert program.stop(grace=DEADLINE) == -signal.SIGINT
    assert not program.running
    program.finish()
    model = Model.load(program.trace_path)
    assert model.exit_status == -signal.SIGINT
    assert "KeyboardInterrupt" in model.exit_detail


def test_a_viewer_that_ignores_ctrl_c_still_interrupts_the_program(tmp_path):
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a background job has it
    try:
        program = _start(tmp_path, "import os, time; os.write(1, b'ready\\n'); time.sleep(100)")
    finally:
        signal.signal(signal.SIGINT, previous)
    _wait_output(program, [], "ready")
    assert program.stop(grace=DEADLINE) == -signal.SIGINT


def test_stop_kills_a_program_that_ignores_signals_and_its_children(tmp_path):
    program = _start(
        tmp_path,
        """
        import os, signal, subprocess, time
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        child = subprocess.Popen(["sh", "-c", "trap '' INT TERM; exec sleep 100"])
        os.write(1, f"child {child.pid}\\n".encode())
        while True:
            time.sleep(0.01)
        """,
    )
    child = int(_wait_output(program, [], "\n").split()[1])
    began = time.monotonic()
    assert program.stop(grace=0.2) == -signal.SIGKILL
    assert time.monotonic() - began < 2.5
    assert not _alive(program.pid)
    assert not _alive(child)
    program.finish()
    assert Model.load(program.trace_path).exit_status == -signal.SIGKILL


def test_unknown_commands_and_garbage_on_the_control_pipe_are_ignored(tmp_path):
    program = _start(
        tmp_path,
        """
        import os, time
        os.write(1, b"ready\\n")
        while not os.path.exists("go"):
            time.sleep(0.005)
        """,
    )
    try:
        _wait_output(program, [], "ready")
        program.send("no-such-command", task=3)
        program._control.write(b'not json\n[1]\n{"cmd": [1]}\n{"no": "cmd"}\n')
        (tmp_path / "go").touch()
        _wait_for(lambda: program.poll() is not None, "the program to exit")
    finally:
        program.stop()
    program.finish()
    assert program.poll() == 0
    assert _output(Model.load(program.trace_path), 2) == ""


VIEWER = """
import sys, time
sys.path.insert(0, {root!r})
from visualizer import runner

def agent_command(*args, **kwargs):
    command = real_agent_command(*args, **kwargs)
    i = command.index("-c") + 1
    command[i] = command[i].replace("agent.main()", "agent.EXIT_GRACE = {grace}; agent.main()")
    return command

real_agent_command, runner.agent_command = runner.agent_command, agent_command
program = runner.Program(["prog.py"], None, "out.lvtrace")
program.start()
taken = ""
while "\\n" not in taken:
    taken += "".join(text for _, _, text in program.take_output())
    time.sleep(0.005)
print(program.pid, taken.split()[1], flush=True)
time.sleep(100)
"""

STUBBORN = """
import asyncio, os, signal, subprocess

async def main():
    if {ignore_sigterm}:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = subprocess.Popen(["sleep", "100"])
    os.write(1, f"child {{child.pid}}\\n".encode())
    while True:
        await asyncio.sleep(0.01)

asyncio.run(main())
"""


def _read_line(stream, timeout: float) -> str:
    ready, _, _ = select.select([stream], [], [], timeout)
    assert ready, "the viewer said nothing"
    return stream.readline()


@pytest.mark.parametrize(
    ("ignore_sigterm", "status"),
    [(False, -signal.SIGTERM), (True, -signal.SIGKILL)],
    ids=["obeys-sigterm", "ignores-sigterm"],
)
def test_a_killed_viewer_leaves_no_program_and_a_complete_trace(tmp_path, ignore_sigterm, status):
    _write(tmp_path, STUBBORN.format(ignore_sigterm=ignore_sigterm))
    viewer = subprocess.Popen(
        [sys.executable, "-c", VIEWER.format(root=str(ROOT), grace=0.3)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        pid, child = map(int, _read_line(viewer.stdout, DEADLINE).split())
    finally:
        viewer.kill()
        viewer.wait()
        viewer.stdout.close()
    _wait_for(lambda: not _alive(pid) and not _alive(child), "the program to end")
    trace = read_trace(tmp_path / "out.lvtrace")
    assert not trace.truncated
    assert Model.from_trace(trace).exit_status == status


def test_a_flood_of_raw_output_keeps_only_the_newest_few_megabytes(tmp_path):
    tracemalloc.start()
    try:
        program = _start(
            tmp_path,
            """
            import os
            block = b"x" * 1023 + b"\\n"
            for _ in range(50 * 1024):
                os.write(1, block)
            os.write(1, b"END\\n")
            """,
        )
        _wait_for(lambda: program.poll() is not None, "the program to exit")
        taken: list[tuple[int, int, str]] = []
        _wait_output(program, taken, "END")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        program.stop()
    kept = _text(taken, 1)
    assert kept.endswith("x\nEND\n")
    assert len(kept) <= runner.OUTPUT_LIMIT
    assert program.output_dropped == 50 * 1024 * 1024 + 4 - len(kept)
    # bounded: the kept text and, while it is joined, one copy of it (a clean clone on 3.12
    # once peaked 24 bytes over twice the limit), not the 50 MB that went by
    assert peak < 2.5 * runner.OUTPUT_LIMIT
    program.finish()
    raw = _output(Model.load(program.trace_path), RAW_STDOUT)
    assert raw.startswith(f"[loopviz: {program.output_dropped} bytes dropped]\n")
    assert raw.endswith(kept)


class _CountingReader:
    """A trace file that counts the bytes read from it."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "rb")  # noqa: SIM115 - closed by the test
        self.read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        data = self._file.read(size)
        self.read_bytes += len(data)
        return data

    def __getattr__(self, name: str):
        return getattr(self._file, name)


def _trace_of_batches(path: Path, batches: int, size: int) -> None:
    with visualizer.record(path) as recording:
        for i in range(batches):
            recording.recorder.emit(schema.OUTPUT, i, 1, f"{i:09d}".ljust(size, "x"))


def test_append_exit_reads_only_the_batch_lengths(tmp_path):
    trace = tmp_path / "big.lvtrace"
    _trace_of_batches(trace, 50, 20_000)
    reader = _CountingReader(trace)
    try:
        assert runner._ends_on_a_batch(reader)
    finally:
        reader._file.close()
    batches = len(read_trace(trace).batches)
    assert reader.read_bytes == PREFIX.size + batches * LENGTH.size
    assert os.path.getsize(trace) > 1_000_000

    runner.append_exit(str(trace), -signal.SIGKILL, [(1, RAW_STDOUT, "raw\n")])
    model = Model.load(trace)
    assert model.exit_status == -signal.SIGKILL and not model.truncated
    assert _output(model, RAW_STDOUT) == "raw\n"


@pytest.mark.parametrize(
    "damage",
    [lambda data: data[:-5], lambda data: data + b"\x01\x00", lambda data: b"not a trace" + data],
    ids=["cut-in-a-batch", "cut-in-a-length", "foreign"],
)
def test_append_exit_leaves_a_damaged_trace_alone(tmp_path, damage):
    trace = tmp_path / "out.lvtrace"
    _trace_of_batches(trace, 3, 100)
    trace.write_bytes(damage(trace.read_bytes()))
    before = trace.read_bytes()
    runner.append_exit(str(trace), 0)
    assert trace.read_bytes() == before
