"""Shared by the tests that run a program under the stepper: start it, wait, read its trace."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from visualizer.model import Model
from visualizer.runner import Program
from visualizer.trace import schema
from visualizer.trace.reader import TraceError, read_trace, records

DEADLINE = 10.0  # seconds: a deadline, not an expected duration


def wait_for(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def loop_records(path: Path) -> list[tuple[Any, ...]]:
    """Loop 1's records so far (none while the agent has not written the header)."""
    try:
        batches = read_trace(str(path)).batches
    except TraceError:
        return []
    return [record for batch in batches if batch[0] == 1 for record in records(batch)]


def load(path: Path) -> Model:
    """The trace's model so far (empty while the agent has not written the header)."""
    try:
        return Model.load(path)
    except TraceError:
        return Model()


def holds(path: Path) -> list[tuple[Any, ...]]:
    """The PAUSED records so far: each time the stepper held the loop."""
    return [record for record in loop_records(path) if record[0] == schema.PAUSED]


@contextmanager
def stepped(tmp_path: Path, source: str, *, step: bool = True) -> Iterator[tuple[Program, Path]]:
    """`source` run as a program, held by the stepper before its first callback (`step`)."""
    (tmp_path / "prog.py").write_text(textwrap.dedent(source))
    trace = tmp_path / "out.lvtrace"
    program = Program(["prog.py"], None, str(trace), cwd=str(tmp_path), step=step)
    program.start()
    try:
        yield program, trace
    finally:
        program.stop()
        program.finish()


def command(program: Program, trace: Path, cmd: str, **fields: Any) -> tuple[Any, ...]:
    """Send a command that ends in a hold; return the PAUSED record it ends at."""
    before = len(holds(trace))
    program.send(cmd, **fields)
    wait_for(lambda: len(holds(trace)) > before, f"the loop to be held after {cmd!r}")
    return holds(trace)[-1]
