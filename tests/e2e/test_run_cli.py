"""`loopviz run` in a real pseudo-terminal: it draws, q quits, and nothing is left running."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import textwrap
import time
from pathlib import Path

import pytest

ANSI = re.compile(
    rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[()][0-9A-Za-z]"
)


class Terminal:
    """A child process on a pty of a given size; what it drew, with escapes stripped."""

    def __init__(self, argv: list[str], cwd: Path, size: tuple[int, int] = (120, 36)) -> None:
        self.master, slave = pty.openpty()
        cols, rows = size
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(cols), "LINES": str(rows)}
        self.process = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env, start_new_session=True
        )
        os.close(slave)
        self.raw = b""

    @property
    def text(self) -> str:
        return ANSI.sub(b"", self.raw).decode("utf-8", "replace")

    def read(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if ready:
                try:
                    self.raw += os.read(self.master, 65536)
                except OSError:
                    return  # the other side closed
            elif self.process.poll() is not None:
                return

    def wait_for(self, words: str, timeout: float = 20.0) -> None:
        end = time.monotonic() + timeout
        while words not in self.text and time.monotonic() < end:
            self.read(0.2)
        assert words in self.text, f"never saw {words!r} in:\n{self.text[-3000:]}"

    def press(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def close(self) -> int:
        try:
            status = self.process.wait(timeout=20)
            self.read(0.5)
            return status
        finally:
            if self.process.poll() is None:
                self.process.kill()
            os.close(self.master)


def _loopviz(*args: str) -> list[str]:
    return [sys.executable, "-m", "visualizer", *args]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stream:
            return stream.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
def sleepy(tmp_path: Path) -> Path:
    script = tmp_path / "sleepy.py"
    script.write_text(
        textwrap.dedent("""
        import asyncio, os

        async def nap():
            print("pid", os.getpid(), flush=True)
            await asyncio.sleep(3600)

        asyncio.run(nap())
    """)
    )
    return script


def test_q_quits_and_stops_the_program(tmp_path: Path, sleepy: Path) -> None:
    terminal = Terminal(_loopviz("run", "-o", "t.lvtrace", str(sleepy)), tmp_path)
    terminal.wait_for("sleep 3")  # the task table says how long main sleeps
    terminal.wait_for("pid ")  # its own output, in the Output pane
    pid = int(re.search(r"pid (\d+)", terminal.text.split("Output", 1)[1]).group(1))
    terminal.press("q")
    assert terminal.close() == 0
    assert "trace kept in t.lvtrace" in terminal.text
    assert not _alive(pid)
    assert (tmp_path / "t.lvtrace").stat().st_size > 0


def test_sigterm_to_the_viewer_stops_the_program_and_restores_the_terminal(
    tmp_path: Path, sleepy: Path
) -> None:
    terminal = Terminal(_loopviz("run", str(sleepy)), tmp_path)
    terminal.wait_for("sleep 3")
    terminal.wait_for("pid ")
    pid = int(re.search(r"pid (\d+)", terminal.text.split("Output", 1)[1]).group(1))
    terminal.process.terminate()
    assert terminal.close() == 128 + 15
    assert "\x1b[?1049l" in terminal.raw.decode("utf-8", "replace")  # left the alternate screen
    assert "trace kept in" in terminal.text
    assert not _alive(pid)


def test_the_viewer_stays_open_after_the_program_ends(tmp_path: Path) -> None:
    script = tmp_path / "fails.py"
    script.write_text("import asyncio\n\nasync def main():\n    raise KeyError('gone')\n\n"
                      "asyncio.run(main())\n")  # fmt: skip
    terminal = Terminal(_loopviz("run", str(script)), tmp_path)
    terminal.wait_for("exited 1")
    terminal.read(1.0)
    assert terminal.process.poll() is None  # still showing how it ended
    terminal.press("q")
    assert terminal.close() == 0
    assert "fails.py (exited 1); trace kept in" in terminal.text


def test_what_follows_the_module_is_the_programs(tmp_path: Path) -> None:
    (tmp_path / "mod.py").write_text(
        "import asyncio, sys\nprint('argv', sys.argv[1:], flush=True)\n"
        "asyncio.run(asyncio.sleep(3600))\n"
    )
    terminal = Terminal(_loopviz("run", "-o", "t.lvtrace", "-m", "mod", "-o", "b", "-q"), tmp_path)
    terminal.wait_for("argv ['-o', 'b', '-q']")
    terminal.press("q")
    assert terminal.close() == 0
    assert "trace kept in t.lvtrace" in terminal.text
    assert not (tmp_path / "b").exists()


def test_run_without_a_terminal_says_so(tmp_path: Path, sleepy: Path) -> None:
    proc = subprocess.run(_loopviz("run", str(sleepy)), capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, cwd=tmp_path, timeout=30)  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "loopviz: error: run needs a terminal; use 'loopviz record' to record without one"
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run"], "run needs a script to run"),
        (["run", "no_such_script.py"], "cannot find script 'no_such_script.py'"),
        (["step", "-o", "t.lvtrace", "-m"], "-m needs a module name"),
    ],
)
def test_run_argument_errors_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    proc = subprocess.run(_loopviz(*args), capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, cwd=tmp_path, timeout=30)  # fmt: skip
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_replay_opens_a_recorded_trace(tmp_path: Path) -> None:
    script = tmp_path / "two.py"
    script.write_text(
        "import asyncio\n\nasync def main():\n    print('hi')\n\nasyncio.run(main())\n"
    )
    subprocess.run(_loopviz("record", "-q", "-o", "two.lvtrace", str(script)), cwd=tmp_path,
                   check=True, capture_output=True)  # fmt: skip
    terminal = Terminal(_loopviz("replay", "two.lvtrace"), tmp_path)
    terminal.wait_for("exited 0")
    terminal.wait_for("hi")
    terminal.press("q")
    assert terminal.close() == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot open missing.lvtrace"),
        (b"", "is empty"),
        (b"print('hello')\n", "is not a loopviz trace: it is a text file"),
    ],
)
def test_replay_of_a_bad_file_is_one_line(tmp_path: Path, content: bytes | None, message: str):
    name = "missing.lvtrace" if content is None else "bad.lvtrace"
    if content is not None:
        (tmp_path / name).write_bytes(content)
    proc = subprocess.run(_loopviz("replay", name), capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, cwd=tmp_path, timeout=30)  # fmt: skip
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_step_starts_held_and_full_stop_runs_one_callback(tmp_path: Path, sleepy: Path) -> None:
    terminal = Terminal(_loopviz("step", "-o", "s.lvtrace", str(sleepy)), tmp_path)
    terminal.wait_for("held before its select")
    terminal.wait_for("(its first step)")  # the ready queue: main's first step
    terminal.press(".")
    terminal.wait_for("waits on a sleep")  # the narration of main's step
    terminal.press("q")
    assert terminal.close() == 0
    assert "trace kept in s.lvtrace" in terminal.text


def test_examples_lists_them_and_opens_the_chosen_one_in_the_stepper(tmp_path: Path) -> None:
    listed = subprocess.run(_loopviz("examples", "--list"), capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, cwd=tmp_path, timeout=30)  # fmt: skip
    lines = listed.stdout.splitlines()
    assert listed.returncode == 0 and lines[0].split()[:2] == ["1", "hello"]
    assert sum(1 for line in lines if re.match(r"\s*\d+\s+\w+\s+\S", line)) >= 12
    terminal = Terminal(_loopviz("examples", "hello"), tmp_path)
    terminal.wait_for("held before its select")
    terminal.press("q")
    assert terminal.close() == 0


def test_examples_with_an_unknown_name_is_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(_loopviz("examples", "nope"), capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, cwd=tmp_path, timeout=30)  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "loopviz: error: no example 'nope'; 'loopviz examples --list' lists them"
    ]
