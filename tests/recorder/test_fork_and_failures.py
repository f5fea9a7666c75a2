"""The recorder's own trouble never becomes the program's: a fork, a full disk, a closed fd."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from visualizer.model import Model
from visualizer.recorder import core
from visualizer.trace import schema

ROOT = Path(__file__).resolve().parents[2]


def _run(tmp_path: Path, body: str, *, limit: int | None = None) -> subprocess.CompletedProcess:
    """Run `body` after ``visualizer.install(TRACE)`` in a fresh interpreter."""
    script = tmp_path / "prog.py"
    script.write_text(
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "import visualizer\n"
        f"visualizer.install({str(tmp_path / 'trace.lvtrace')!r})\n" + textwrap.dedent(body)
    )

    def limit_size() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=limit_size if limit is not None else None,
    )


def _task_names(model: Model) -> list[str]:
    return sorted(task.name for task in model.tasks if not task.name.startswith("Task-"))


def test_a_forked_child_records_into_its_own_file_never_into_its_parents(tmp_path: Path):
    proc = _run(
        tmp_path,
        """
        import asyncio, os

        async def work(name):
            await asyncio.create_task(asyncio.sleep(0.001), name=name)

        asyncio.run(work("before-fork"))
        pid = os.fork()
        if pid == 0:
            asyncio.run(work("in-child"))
            os._exit(0)
        os.waitpid(pid, 0)
        asyncio.run(work("after-fork"))
        print(pid)
        """,
    )
    assert proc.returncode == 0, proc.stderr
    child = int(proc.stdout.split()[-1])
    parent = Model.load(str(tmp_path / "trace.lvtrace"))
    assert not parent.truncated
    assert _task_names(parent) == ["after-fork", "before-fork"]
    assert any("forked" in text for _, text in parent.notes)
    forked = Model.load(core.fork_trace_name(str(tmp_path / "trace.lvtrace"), child))
    assert not forked.truncated
    assert _task_names(forked) == ["in-child"]


def test_a_forked_child_without_a_loop_leaves_no_file(tmp_path: Path):
    proc = _run(
        tmp_path,
        """
        import asyncio, os
        asyncio.run(asyncio.sleep(0))
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        """,
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.glob("*.lvtrace")) == ["trace.lvtrace"]


BUSY = """
import asyncio

async def main():
    for i in range(60000):
        await asyncio.sleep(0)
        if i % 20000 == 0:
            print("at", i, flush=True)
    print("done")

asyncio.run(main())
"""


def test_a_full_disk_stops_recording_and_the_program_runs_on(tmp_path: Path):
    plain = subprocess.run([sys.executable, "-c", BUSY], capture_output=True, text=True, timeout=60)
    proc = _run(tmp_path, BUSY, limit=256 * 1024)
    assert (proc.returncode, proc.stdout, proc.stderr) == (plain.returncode, plain.stdout, "")
    model = Model.load(str(tmp_path / "trace.lvtrace"))
    assert not model.truncated  # the torn batch was cut off: the file reads whole
    notes = [text for _, text in model.notes]
    assert len(notes) == 1 and notes[0].startswith("recording stopped: file size limit reached")
    assert model.tasks  # what came before the limit is kept


def test_a_program_that_closes_the_trace_fd_runs_on_and_its_own_file_is_untouched(
    tmp_path: Path,
):
    proc = _run(
        tmp_path,
        """
        import asyncio, os
        asyncio.run(asyncio.sleep(0))
        os.closerange(3, 1024)
        with open("mine.txt", "w") as mine:  # likely takes the trace's old fd number
            mine.write("mine\\n")

            async def main():
                for _ in range(100):
                    await asyncio.sleep(0)
                mine.write("still mine\\n")

            asyncio.run(main())
        print("ok")
        """,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "ok\n", "")
    assert (tmp_path / "mine.txt").read_text() == "mine\nstill mine\n"


@pytest.mark.parametrize("errno_name", ["ENOSPC", "EFBIG", "EDQUOT"])
def test_a_write_error_is_told_in_words(errno_name: str):
    import errno

    words = core._failure_words(OSError(getattr(errno, errno_name), "x"), 12_400_000)
    assert words.endswith("at 12.4 MB")
    assert {"ENOSPC": "disk full", "EFBIG": "file size", "EDQUOT": "quota"}[errno_name] in words


def test_note_kind_is_in_the_schema():
    assert schema.FIELDS[schema.NOTE] == ("t", "text")


def test_a_trace_fd_the_program_closed_and_reused_is_not_closed_with_the_trace(tmp_path: Path):
    proc = _run(
        tmp_path,
        """
        import os
        from visualizer.recorder import core
        os.closerange(3, 1024)
        with open("mine.txt", "w") as mine:  # takes the trace's old fd number
            core.current().close()  # what happens at exit: must not close the program's file
            mine.write("still open\\n")
        """,
    )
    assert (proc.returncode, proc.stderr) == (0, "")
    assert (tmp_path / "mine.txt").read_text() == "still open\n"
