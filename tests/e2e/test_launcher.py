"""`loopviz record` behaves like `python`: it becomes the program (same pid, the signals and the
exit status are the program's), the program's options are the program's, and the agent finishes
the trace itself however the program ends. Each test runs the program under plain python too,
and compares."""

from __future__ import annotations

import contextlib
import io
import os
import re
import resource
import signal
import subprocess
import sys
import textwrap
import time
import zipapp
from collections.abc import Callable
from pathlib import Path

import hypothesis
import hypothesis.strategies as st
import pytest

from visualizer import cli
from visualizer.model import Model
from visualizer.trace import schema

LOOPVIZ = [sys.executable, "-m", "visualizer"]
PYTHON = [sys.executable]
DEADLINE = 60  # seconds: a limit for hangs, not an expected duration


def _write(directory: Path, name: str, source: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(source))
    return path


def _record_command(trace: Path, *args: str, quiet: bool = True) -> list[str]:
    return [*LOOPVIZ, "record", *(["-q"] if quiet else []), "-o", str(trace), *args]


def _run(
    command: list[str], cwd: Path, preexec_fn: Callable[[], None] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=DEADLINE, preexec_fn=preexec_fn
    )


def _loopviz_lines(stderr: str) -> tuple[str, list[str]]:
    """The program's stderr, and loopviz's own lines taken out of it."""
    lines = stderr.splitlines(keepends=True)
    own = [line.rstrip("\n") for line in lines if line.startswith("loopviz: ")]
    return "".join(line for line in lines if not line.startswith("loopviz: ")), own


# -- the process -------------------------------------------------------------------------------


WAITER = """
    import asyncio, os, signal, sys

    async def main():
        loop = asyncio.get_running_loop()
        handled = asyncio.Event()
        if {handle}:
            def on_signal():
                print("handled", flush=True)
                handled.set()
            loop.add_signal_handler(signal.{signal}, on_signal)
        for _ in range(20):
            await asyncio.sleep(0)
        print("ready", os.getpid(), flush=True)
        await asyncio.wait_for(handled.wait(), {deadline})

    asyncio.run(main())
    print("ended", flush=True)
"""


def _wait_recorded(trace: Path, steps: int) -> None:
    """Wait until the trace holds `steps` steps of the program's first task. (A loop writes its
    records before it blocks, so they are in the file soon after the program says it waits.)"""
    for _ in range(DEADLINE * 1000):
        model = Model.load(trace)
        if model.tasks and len(model.tasks[0].steps) >= steps:
            return
        time.sleep(0.001)
    raise AssertionError(f"{steps} steps never reached the trace")


def _signalled(
    command: list[str], cwd: Path, signum: int, after: Callable[[], None] = lambda: None
) -> tuple[int, str, str]:
    """Start `command`, wait until it says it is ready (and that its pid is the one started),
    run `after`, send it `signum`, and return its status, what it printed next, and stderr."""
    proc = subprocess.Popen(
        command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = proc.stdout.readline()
        assert line == f"ready {proc.pid}\n", line + proc.stderr.read()
        after()
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=DEADLINE)
    finally:
        proc.kill()
        proc.wait()
    return proc.returncode, stdout, stderr


@pytest.mark.parametrize(
    ("signame", "handle"),
    [
        ("SIGTERM", False),
        ("SIGTERM", True),
        ("SIGINT", False),
        ("SIGINT", True),
        ("SIGUSR1", False),
        ("SIGUSR1", True),
    ],
)
def test_a_signal_sent_to_loopviz_reaches_the_program_as_under_python(tmp_path, signame, handle):
    _write(tmp_path, "wait.py", WAITER.format(handle=handle, signal=signame, deadline=DEADLINE))
    signum = getattr(signal, signame)
    trace = tmp_path / "out.lvtrace"
    plain = _signalled([*PYTHON, "wait.py"], tmp_path, signum)
    recorded = _signalled(
        _record_command(trace, "wait.py"), tmp_path, signum, lambda: _wait_recorded(trace, 21)
    )
    assert recorded == plain
    status, stdout, _ = recorded
    expected = 0 if handle else -signum
    assert status == expected
    assert ("handled\n" in stdout) == handle
    model = Model.load(trace)
    assert len(model.tasks[0].steps) >= 21
    # SIGUSR1's default action kills before anything can be recorded: no exit status then.
    assert model.exit_status == (None if signame == "SIGUSR1" and not handle else expected)


def test_sigkill_gives_137_and_a_trace_that_reads_to_its_last_batch(tmp_path):
    _write(tmp_path, "wait.py", WAITER.format(handle=False, signal="SIGINT", deadline=DEADLINE))
    trace = tmp_path / "out.lvtrace"

    plain = _signalled([*PYTHON, "wait.py"], tmp_path, signal.SIGKILL)
    recorded = _signalled(
        _record_command(trace, "wait.py"),
        tmp_path,
        signal.SIGKILL,
        lambda: _wait_recorded(trace, 21),
    )
    assert recorded == plain
    assert recorded[0] == -signal.SIGKILL
    model = Model.load(trace)
    assert len(model.tasks[0].steps) >= 21 and model.exit_status is None
    shell = subprocess.run(
        ["sh", "-c", f'{" ".join(_record_command(trace, "kill.py"))}; echo "status $?"'],
        cwd=_write(tmp_path, "kill.py", "import os, signal; os.kill(os.getpid(), 9)").parent,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert shell.stdout.endswith("status 137\n"), shell.stdout + shell.stderr
    model = Model.load(trace)
    assert model.exit_status is None and not model.truncated


def test_the_program_runs_in_the_process_loopviz_started(tmp_path):
    _write(tmp_path, "pid.py", "import os; print(os.getpid(), os.getppid())")
    proc = subprocess.Popen(
        _record_command(tmp_path / "out.lvtrace", "pid.py"),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        text=True,
    )
    stdout, _ = proc.communicate(timeout=DEADLINE)
    assert stdout == f"{proc.pid} {os.getpid()}\n"


def test_an_ignored_sigint_stays_ignored(tmp_path):
    """A background job (`loopviz record x.py &` in a script) starts with SIGINT ignored."""
    _write(
        tmp_path,
        "ignored.py",
        """
        import os, signal, time
        print("ready", os.getpid(), signal.getsignal(signal.SIGINT) is signal.SIG_IGN, flush=True)
        while not os.path.exists("go"):
            time.sleep(0.01)
        print("still here")
        """,
    )

    def run(command: list[str]) -> tuple[int, str, str]:
        (tmp_path / "go").unlink(missing_ok=True)
        proc = subprocess.Popen(
            command,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        )
        try:
            line = proc.stdout.readline()
            assert line.startswith(f"ready {proc.pid} "), line + proc.stderr.read()
            proc.send_signal(signal.SIGINT)
            proc.send_signal(signal.SIGINT)
            (tmp_path / "go").touch()
            stdout, stderr = proc.communicate(timeout=DEADLINE)
        finally:
            proc.kill()
            proc.wait()
        return proc.returncode, line.split(maxsplit=2)[2] + stdout, stderr

    plain = run([*PYTHON, "ignored.py"])
    recorded = run(_record_command(tmp_path / "out.lvtrace", "ignored.py"))
    assert recorded == plain
    assert plain == (0, "True\nstill here\n", "")


# -- how the program ends ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "ending",
    [
        "",
        "sys.exit(3)",
        "sys.exit(259)",
        "sys.exit('a message')",
        "raise ValueError('bad')",
        "os._exit(7)",
        "raise KeyboardInterrupt",
    ],
)
def test_exit_status_and_stderr_are_pythons(tmp_path, ending):
    _write(
        tmp_path,
        "end.py",
        f"""
        import asyncio, atexit, os, sys

        async def main():
            await asyncio.sleep(0)
            print("ran", flush=True)

        atexit.register(print, "atexit ran")
        asyncio.run(main())
        {ending}
        """,
    )
    trace = tmp_path / "out.lvtrace"
    plain = _run([*PYTHON, "end.py"], tmp_path)
    recorded = _run(_record_command(trace, "end.py"), tmp_path)
    assert (recorded.returncode, recorded.stdout, recorded.stderr) == (
        plain.returncode,
        plain.stdout,
        plain.stderr,
    )
    model = Model.load(trace)
    assert model.exit_status == plain.returncode
    assert "".join(o.text for o in model.output if o.stream == 1) == plain.stdout


def test_a_loop_in_a_thread_that_outlives_the_script_is_recorded_to_its_end(tmp_path):
    _write(
        tmp_path,
        "thread.py",
        """
        import asyncio, threading

        async def worker():
            for _ in range(4):
                await asyncio.sleep(0.05)
            print("worker done")

        threading.Thread(target=asyncio.run, args=(worker(),)).start()
        print("script done")
        """,
    )
    trace = tmp_path / "out.lvtrace"
    plain = _run([*PYTHON, "thread.py"], tmp_path)
    recorded = _run(_record_command(trace, "thread.py"), tmp_path)
    assert (recorded.returncode, recorded.stdout) == (plain.returncode, plain.stdout)
    assert plain.stdout == "script done\nworker done\n"
    model = Model.load(trace)
    (worker,) = (task for task in model.tasks if task.coro == "worker")
    assert len(worker.steps) == 5 and worker.outcome == schema.OUTCOME_OK
    assert model.exit_status == 0
    assert "".join(o.text for o in model.output) == plain.stdout


def test_a_forked_child_ends_as_under_python_and_loopviz_speaks_once(tmp_path):
    _write(
        tmp_path,
        "forks.py",
        """
        import asyncio, os, sys

        async def work(who):
            for _ in range(3):
                await asyncio.sleep(0)
            print(who, "done", flush=True)

        for ending in ("sys.exit(3)", "os._exit(4)"):
            pid = os.fork()
            if pid == 0:
                asyncio.run(work("child"))
                exec(ending)
            print("child", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
        asyncio.run(work("parent"))
        """,
    )
    trace = tmp_path / "out.lvtrace"
    plain = _run([*PYTHON, "forks.py"], tmp_path)
    recorded = _run(_record_command(trace, "forks.py", quiet=False), tmp_path)
    assert (recorded.returncode, recorded.stdout) == (plain.returncode, plain.stdout)
    assert plain.stdout == "child done\nchild 3\nchild done\nchild 4\nparent done\n"
    assert recorded.stderr == f"loopviz: trace written to {trace}\n"
    model = Model.load(trace)
    assert model.exit_status == 0
    assert [len(task.steps) for task in model.tasks if task.coro == "work"] == [4]
    children = sorted(tmp_path.glob("out.fork-*.lvtrace"))
    assert len(children) == 2
    for child in children:
        assert [len(task.steps) for task in Model.load(child).tasks if task.coro == "work"] == [4]


def test_text_printed_as_the_interpreter_shuts_down_is_printed_as_under_python(tmp_path):
    _write(
        tmp_path,
        "late.py",
        """
        import atexit

        class Late:
            def __del__(self):
                print("at teardown")  # as python clears __main__, after every atexit function

        atexit.register(print, "at exit")
        late = Late()
        """,
    )
    trace = tmp_path / "out.lvtrace"
    plain = _run([*PYTHON, "late.py"], tmp_path)
    recorded = _run(_record_command(trace, "late.py"), tmp_path)
    assert (recorded.returncode, recorded.stdout) == (plain.returncode, plain.stdout)
    assert plain.stdout == "at exit\nat teardown\n"
    assert "".join(o.text for o in Model.load(trace).output) == "at exit\n"


MAIN = """
    import re
    hidden = ("__loader__", "__spec__", "__builtins__")  # their reprs hold addresses
    print(sorted((name, type(value).__name__, None if name in hidden else value)
                 for name, value in globals().items() if name != "re"))
    print(re.sub("0x[0-9a-f]+", "", repr(__spec__)), __builtins__.__name__)
"""


@pytest.mark.parametrize("how", [["main.py"], ["-m", "main"], ["-m", "pkg.main"]])
def test_the_program_runs_in_a_main_module_like_pythons(tmp_path, how):
    _write(tmp_path, "main.py", MAIN)
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").touch()
    _write(tmp_path / "pkg", "main.py", MAIN)
    plain = _run([*PYTHON, *how], tmp_path)
    recorded = _run(_record_command(tmp_path / "out.lvtrace", *how), tmp_path)
    assert (recorded.returncode, recorded.stdout, recorded.stderr) == (
        plain.returncode,
        plain.stdout,
        plain.stderr,
    )
    assert plain.returncode == 0 and "'__name__', 'str', '__main__'" in plain.stdout


@pytest.mark.parametrize("target", ["app", "app.pyz", "empty_dir"])
def test_a_directory_or_zip_file_runs_its_main_as_under_python(tmp_path, target):
    (tmp_path / "app").mkdir()
    _write(
        tmp_path / "app",
        "__main__.py",
        """
        import asyncio, sys
        print(sys.argv, sys.path[0], __name__, __file__, __spec__.name)
        asyncio.run(asyncio.sleep(0))
        """,
    )
    zipapp.create_archive(tmp_path / "app", tmp_path / "app.pyz", "/usr/bin/env python3")
    (tmp_path / "empty_dir").mkdir()
    trace = tmp_path / "out.lvtrace"
    plain = _run([*PYTHON, target, "arg"], tmp_path)
    recorded = _run(_record_command(trace, target, "arg"), tmp_path)
    assert (recorded.returncode, recorded.stdout, recorded.stderr) == (
        plain.returncode,
        plain.stdout,
        plain.stderr,
    )
    if target == "empty_dir":
        assert plain.returncode == 1 and "can't find '__main__' module" in plain.stderr
    else:
        assert plain.stdout.startswith(f"['{target}', 'arg'] {tmp_path / target} __main__ ")
        assert Model.load(trace).loops


@pytest.mark.parametrize("script", ["linked_dir/where.py", "linked.py"])
def test_a_symlinked_script_sees_the_path_python_gives_it(tmp_path, script):
    (tmp_path / "real").mkdir()
    _write(tmp_path / "real", "where.py", "import sys; print(sys.path[0], __file__, sys.argv)")
    (tmp_path / "linked_dir").symlink_to("real")
    (tmp_path / "linked.py").symlink_to("real/where.py")
    plain = _run([*PYTHON, script], tmp_path)
    recorded = _run(_record_command(tmp_path / "out.lvtrace", script), tmp_path)
    assert (recorded.returncode, recorded.stdout) == (plain.returncode, plain.stdout)
    assert plain.stdout.startswith(f"{tmp_path / 'real'} ")


def test_the_interpreters_options_are_the_programs(tmp_path):
    _write(tmp_path, "flags.py", "import sys; print(sys.flags, sys.warnoptions, sys._xoptions)")
    options = ["-X", "dev", "-O", "-W", "error::ResourceWarning"]
    plain = _run([*PYTHON, *options, "flags.py"], tmp_path)
    recorded = _run([*PYTHON, *options, *LOOPVIZ[1:], "record", "-q", "-o", "T", "flags.py"],
                    tmp_path)  # fmt: skip
    assert (recorded.returncode, recorded.stdout) == (plain.returncode, plain.stdout)
    assert "dev_mode=True" in plain.stdout and "optimize=1" in plain.stdout


# -- what the program's command line is --------------------------------------------------------


def test_everything_after_the_module_is_the_programs(tmp_path):
    _write(tmp_path, "mod.py", "import sys; print(sys.argv[1:])")
    a, b = tmp_path / "a.lvtrace", tmp_path / "b"
    plain = _run([*PYTHON, "-m", "mod", "-o", "b", "-q", "--", "-m", "x"], tmp_path)
    recorded = _run([*LOOPVIZ, "record", "-o", str(a), "-m", "mod", "-o", "b", "-q", "--", "-m",
                     "x"], tmp_path)  # fmt: skip
    assert recorded.returncode == plain.returncode == 0
    assert recorded.stdout == plain.stdout == "['-o', 'b', '-q', '--', '-m', 'x']\n"
    assert Model.load(a).exit_status == 0 and not b.exists()
    assert recorded.stderr == f"loopviz: trace written to {a}\nloopviz: {schema.NO_LOOP}\n"


@pytest.mark.parametrize("module", ["no_such_module", "mod.sub", "package"])
def test_a_module_that_cannot_run_is_said_as_python_says_it(tmp_path, module):
    _write(tmp_path, "mod.py", "")
    (tmp_path / "package").mkdir()
    (tmp_path / "package" / "__init__.py").touch()
    plain = _run([*PYTHON, "-m", module], tmp_path)
    recorded = _run(_record_command(tmp_path / "out.lvtrace", "-m", module), tmp_path)
    assert (recorded.returncode, recorded.stdout, recorded.stderr) == (
        plain.returncode,
        plain.stdout,
        plain.stderr,
    )
    assert plain.returncode == 1 and plain.stderr.startswith(f"{sys.executable}: ")


@pytest.mark.parametrize(
    "args",
    [
        ["-mmod", "-q"],
        ["-qm", "mod", "-q"],
        ["-qo", "{trace}", "-m", "mod", "-q"],
        ["-qo{trace}", "mod.py", "-q"],
        ["--out={trace}", "-q", "--", "mod.py", "-q"],
        ["--output", "{trace}", "-q", "mod.py", "-q"],
    ],
)
def test_loopviz_options_are_split_from_the_programs_as_python_splits_them(tmp_path, args):
    _write(tmp_path, "mod.py", "import sys; print(sys.argv[1:])")
    trace = tmp_path / "t.lvtrace"
    args = [arg.replace("{trace}", str(trace)) for arg in args]
    recorded = _run([*LOOPVIZ, "record", *args], tmp_path)
    assert recorded.returncode == 0, recorded.stderr
    assert recorded.stdout == "['-q']\n"
    if "{trace}" in "".join(args) or str(trace) in "".join(args):
        assert Model.load(trace).exit_status == 0


@pytest.mark.parametrize("command", ["record", "run", "step"])
def test_run_and_step_split_the_program_off_as_record_does(command):
    args = cli._parse([command, "-o", "a.lvtrace", "-m", "aiohttp.web", "-H", "127.0.0.1", "-P",
                       "8080", "-o", "b", "mod:fn"])  # fmt: skip
    assert (args.output, args.module) == ("a.lvtrace", "aiohttp.web")
    assert args.program == ["-H", "127.0.0.1", "-P", "8080", "-o", "b", "mod:fn"]
    args = cli._parse([command, "--", "-script.py", "-o", "x"])
    assert (args.output, args.module, args.program) == (None, None, ["-script.py", "-o", "x"])


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["-m"], "-m needs a module name"),
        ([], "record needs a script"),
        (["-o"], "expected one argument"),
        (["--frob", "x.py"], "unrecognized arguments: --frob"),
        (["missing.py", "-o", "x"], "cannot find script 'missing.py'"),
        (["-o", "no/such/dir/t.lvtrace", "mod.py"], "cannot write the trace to no/such/dir"),
    ],
)
def test_a_mistake_is_one_line_and_starts_nothing(tmp_path, args, says):
    _write(tmp_path, "mod.py", "open('ran', 'w')")
    result = _run([*LOOPVIZ, "record", *args], tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and says in result.stderr, result.stderr
    assert not (tmp_path / "ran").exists()


@pytest.mark.timeout(180)
def test_pytest_runs_under_record_with_its_own_options(tmp_path):
    tests = tmp_path / "tiny"
    tests.mkdir()
    _write(
        tests,
        "test_tiny.py",
        """
        import asyncio

        def test_sleeps():
            assert asyncio.run(asyncio.sleep(0, result=3)) == 3

        def test_fails():
            assert 1 == 2
        """,
    )
    command = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "tiny"]
    trace = tmp_path / "out.lvtrace"
    plain = _run([*PYTHON, *command], tmp_path)
    recorded = _run(_record_command(trace, *command), tmp_path)

    def timeless(text: str) -> str:
        return re.sub(r" in [0-9.]+s", " in Ns", text)

    assert recorded.returncode == plain.returncode == 1
    assert timeless(recorded.stdout) == timeless(plain.stdout)
    assert "1 failed, 1 passed" in plain.stdout and "test session starts" not in plain.stdout
    model = Model.load(trace)
    assert model.exit_status == 1
    assert any(task.coro == "sleep" for task in model.tasks)
    assert not (tmp_path / ".pytest_cache").exists()


# -- when the trace cannot be written ----------------------------------------------------------


LOUD = """
    import asyncio

    async def main():
        for i in range(20_000):
            await asyncio.sleep(0)
            if i % 1000 == 0:
                print("step", i)

    asyncio.run(main())
    print("done")
"""


@pytest.mark.timeout(120)
def test_a_full_disk_stops_the_recording_not_the_program(tmp_path):
    _write(tmp_path, "loud.py", LOUD)
    trace = tmp_path / "out.lvtrace"

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    plain = _run([*PYTHON, "loud.py"], tmp_path, small_files)
    recorded = _run(_record_command(trace, "loud.py", quiet=False), tmp_path, small_files)
    stderr, said = _loopviz_lines(recorded.stderr)
    assert (recorded.returncode, recorded.stdout, stderr) == (plain.returncode, plain.stdout, "")
    assert plain.returncode == 0 and plain.stdout.endswith("done\n")
    assert len(said) == 1 and said[0].startswith(f"loopviz: the trace in {trace} is incomplete: ")
    assert re.search(r"file size limit reached at 0\.[0-2] MB", said[0]), said[0]
    assert os.path.getsize(trace) <= 200_000
    model = Model.load(trace)  # what was written before the limit reads
    assert model.tasks and model.exit_status is None


def test_a_program_that_closes_every_fd_runs_as_under_python(tmp_path):
    _write(
        tmp_path,
        "closer.py",
        """
        import asyncio, os

        os.closerange(3, 1024)

        async def main():
            await asyncio.sleep(0)
            print("ran")

        asyncio.run(main())
        """,
    )
    trace = tmp_path / "out.lvtrace"
    plain = _run([*PYTHON, "closer.py"], tmp_path)
    recorded = _run(_record_command(trace, "closer.py", quiet=False), tmp_path)
    stderr, said = _loopviz_lines(recorded.stderr)
    assert (recorded.returncode, recorded.stdout, stderr) == (plain.returncode, plain.stdout, "")
    assert plain.returncode == 0
    assert len(said) == 1 and "is incomplete: the program closed the trace's file" in said[0]


# -- what loopviz says -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "said"),
    [
        ("import asyncio; asyncio.run(asyncio.sleep(0))", ["loopviz: trace written to {trace}"]),
        (
            "print('no loop')",
            [
                "loopviz: trace written to {trace}",
                f"loopviz: {schema.NO_LOOP}",
            ],
        ),
    ],
)
def test_record_says_once_where_the_trace_is_and_what_it_lacks(tmp_path, source, said):
    _write(tmp_path, "prog.py", source)
    trace = tmp_path / "out.lvtrace"
    loud = _run(_record_command(trace, "prog.py", quiet=False), tmp_path)
    quiet = _run(_record_command(trace, "prog.py"), tmp_path)
    assert loud.returncode == quiet.returncode == 0
    assert loud.stdout == quiet.stdout
    assert loud.stderr.splitlines() == [line.replace("{trace}", str(trace)) for line in said]
    assert quiet.stderr == ""


# -- what the launcher costs -------------------------------------------------------------------


def test_the_launcher_imports_only_what_it_needs_before_it_becomes_the_agent(tmp_path):
    _write(tmp_path, "empty.py", "")
    probe = textwrap.dedent(
        """
        import os, sys
        from visualizer import cli

        def execv(path, args):
            print(" ".join(sorted(sys.modules)))
            print(" ".join(args))
            raise SystemExit(0)

        os.execv = execv
        cli.main(["record", "-q", "-o", "T", "empty.py"])
        """
    )
    _write(tmp_path, "probe.py", probe)  # as a script: python -c would take the slow path
    result = _run([*PYTHON, "probe.py"], tmp_path)
    assert result.returncode == 0, result.stderr
    modules, command = result.stdout.splitlines()
    # Not the viewer's, the recorder's nor asyncio: the agent imports those. Not argparse's help
    # formatter (shutil, 3.14's _colorize): record's own options are read without it.
    unwanted = {"asyncio", "msgspec", "visualizer.model", "visualizer.export", "visualizer.runner",
                "visualizer.recorder.core", "textual", "rich", "typing", "shutil", "_colorize",
                "subprocess"}  # fmt: skip
    assert unwanted.isdisjoint(modules.split()), unwanted & set(modules.split())
    assert command.endswith(" --quiet -- T empty.py")


def _argparse_parse(argv: list[str]) -> dict[str, object]:
    """What `cli._parse` makes of a program command's line when argparse reads loopviz's own
    options (as for run and step, and for record when its quick reading gives up)."""
    parser = cli._parser()
    split = cli._split_program(cli._option_table(parser, argv[0]), argv[1:])
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # --help
            args = parser.parse_args([argv[0], *split.own])
    except (cli.UsageError, SystemExit):
        return {"error": True}
    if split.module == "":
        return {"error": True}
    args.module, args.program = split.module, split.program
    return vars(args)


def test_records_own_options_are_the_ones_its_parser_defines():
    table = cli._option_table(cli._parser(), "record")
    del table["-h"], table["--help"], table["-m"]  # -m is the program's start, not an option
    assert table == cli.RECORD_OPTIONS


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(
    st.lists(
        st.sampled_from(
            [
                "-q",
                "--quiet",
                "-o",
                "T",
                "-oU",
                "--out=V",
                "--output",
                "-qo",
                "--keep-uvloop",
                "--keep",
                "-m",
                "mod",
                "-mpkg",
                "-qm",
                "x.py",
                "--",
                "-h",
                "--frob",
                "-x",
                "--quiet=1",
                "-",
            ]
        ),  # fmt: skip
        max_size=7,
    )
)
def test_record_reads_its_options_as_argparse_does(tokens):
    argv = ["record", *tokens]
    slow = _argparse_parse(argv)
    split = cli._split_program(cli.RECORD_OPTIONS, tokens)
    if split.values is None:
        return  # record lets argparse read this one: nothing to compare
    try:
        fast = vars(cli._parse(argv))
    except cli.UsageError:
        fast = {"error": True}
    assert fast == slow
