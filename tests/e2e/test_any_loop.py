"""Any loop a program makes is recorded under ``loopviz record``: loop factories, a program's own
policy, uvloop (replaced by asyncio's loop, or kept and recorded from outside, and said so), and a
uvicorn + starlette app."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from visualizer.model import Model
from visualizer.recorder.install import UVLOOP_KEPT, UVLOOP_REPLACED

LOOPVIZ = [sys.executable, "-m", "visualizer"]
uvloop = pytest.importorskip("uvloop")


def _record(
    tmp_path: Path, source: str, *options: str
) -> tuple[subprocess.CompletedProcess, Model]:
    (tmp_path / "prog.py").write_text(textwrap.dedent(source))
    trace = tmp_path / "prog.lvtrace"
    proc = subprocess.run(
        [*LOOPVIZ, "record", "-o", str(trace), *options, "prog.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return proc, Model.load(str(trace))


def _plain(tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "prog.py"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )


UVLOOP_PROGRAM = """
    import asyncio, sys, warnings
    import uvloop

    async def main(tag):
        await asyncio.create_task(asyncio.sleep(0.001), name=f"sleeper-{tag}")
        print(tag, type(asyncio.get_running_loop()).__module__.split(".")[0])

    uvloop.run(main("run"))
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main("runner"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if sys.version_info < (3, 16):
            uvloop.install()
    asyncio.run(main("install"))
"""


def test_uvloop_is_replaced_by_asyncios_loop_recorded_and_said_once(tmp_path: Path):
    plain = _plain_of(tmp_path, UVLOOP_PROGRAM)
    assert plain.stdout.split() == ["run", "uvloop", "runner", "uvloop", "install", "uvloop"]
    proc, model = _record(tmp_path, UVLOOP_PROGRAM)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["run", "asyncio", "runner", "asyncio", "install", "asyncio"]
    assert proc.stderr.count(UVLOOP_REPLACED) == 1
    assert [text for _, text in model.notes] == [UVLOOP_REPLACED]
    assert len(model.loops) == 3
    names = sorted(task.name for task in model.tasks if task.name.startswith("sleeper-"))
    assert names == ["sleeper-install", "sleeper-run", "sleeper-runner"]


def test_keep_uvloop_keeps_it_and_records_it_from_outside_said_once(tmp_path: Path):
    plain = _plain_of(tmp_path, UVLOOP_PROGRAM)
    proc, model = _record(tmp_path, UVLOOP_PROGRAM, "--keep-uvloop")
    assert (proc.returncode, proc.stdout) == (0, plain.stdout)
    assert proc.stderr.count(UVLOOP_KEPT) == 1 and "no asyncio event loop" not in proc.stderr
    assert [text for _, text in model.notes] == [UVLOOP_KEPT]
    assert [loop.outside for loop in model.loops.values()] == ["uvloop.Loop"] * 3
    names = sorted(task.name for task in model.tasks if task.name.startswith("sleeper-"))
    assert names == ["sleeper-install", "sleeper-run", "sleeper-runner"]
    check = subprocess.run(
        [*LOOPVIZ, "check", str(tmp_path / "prog.lvtrace")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr  # checked: no longer 2
    assert UVLOOP_KEPT in check.stderr


def _plain_of(tmp_path: Path, source: str) -> subprocess.CompletedProcess:
    (tmp_path / "prog.py").write_text(textwrap.dedent(source))
    return _plain(tmp_path)


APP = """
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    import asyncio

    async def hello(request):
        await asyncio.sleep(0.001)
        return PlainTextResponse("hello from starlette")

    app = Starlette(routes=[Route("/", hello)])
"""


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("loop", "keep"), [("auto", False), ("asyncio", False), ("auto", True)])
def test_a_uvicorn_starlette_app_is_recorded_with_its_requests(
    tmp_path: Path, loop: str, keep: bool
):
    pytest.importorskip("uvicorn")
    pytest.importorskip("starlette")
    (tmp_path / "app.py").write_text(textwrap.dedent(APP))
    trace = tmp_path / "app.lvtrace"
    kept = ["--keep-uvloop"] if keep else []
    command = [*LOOPVIZ, "record", "-o", str(trace), *kept, "-m", "uvicorn", "app:app",
               "--port", "0", "--loop", loop]  # fmt: skip
    server = subprocess.Popen(
        command, cwd=tmp_path, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    try:
        port = _wait_for_port(server)
        for _ in range(3):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as response:
                assert response.read() == b"hello from starlette"
        server.send_signal(signal.SIGINT)  # to loopviz's pid: the server's own
        _, err = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert server.returncode == 0, err
    model = Model.load(str(trace))
    assert model.loops, err
    assert sum(task.coro.endswith("run_asgi") for task in model.tasks) == 3
    # uvicorn picks uvloop when it is installed
    uvloop_notes = [] if loop == "asyncio" else [UVLOOP_KEPT if keep else UVLOOP_REPLACED]
    assert [text for _, text in model.notes] == uvloop_notes
    assert all(bool(each.outside) == keep for each in model.loops.values())
    assert model.exit_status == 0


def _wait_for_port(server: subprocess.Popen) -> int:
    deadline = time.monotonic() + 60
    assert server.stderr is not None
    os.set_blocking(server.stderr.fileno(), True)
    while time.monotonic() < deadline:
        line = server.stderr.readline()
        if not line:
            break
        found = re.search(r"running on http://127\.0\.0\.1:(\d+)", line)
        if found:
            return int(found.group(1))
    raise AssertionError(f"uvicorn did not say its port (exit {server.poll()})")
