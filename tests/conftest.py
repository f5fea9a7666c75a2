"""Shared helpers: run a small asyncio program under the recorder and replay its trace."""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

import visualizer
from visualizer.model import Model
from visualizer.trace.reader import read_stream

ROOT = Path(__file__).resolve().parent.parent


def replay_bytes(data: bytes) -> Model:
    return Model.from_trace(read_stream(io.BytesIO(data), "test trace"))


def record_run(
    main: Callable[[], Coroutine[Any, Any, Any]], **run_kwargs: Any
) -> tuple[Any, Model]:
    """Run `main()` with asyncio.run under the recorder; return its result and the model."""
    with visualizer.record() as recording:
        result = asyncio.run(main(), **run_kwargs)
    return result, replay_bytes(recording.data())


def task_named(model: Model, name: str):
    matches = [task for task in model.tasks if task.name == name]
    assert matches, f"no task named {name!r} in {[t.name for t in model.tasks]}"
    return matches[-1]


@pytest.fixture
def run_recorded():
    return record_run


requires_eager = pytest.mark.skipif(sys.version_info < (3, 12), reason="eager tasks are 3.12+")


# Tests that need more than pyproject's default time limit (120 s), by node id (parameters left
# out), with theirs in seconds, for files whose owners have yet to write @pytest.mark.timeout(N)
# on the test itself (a marker there wins over this table).
LONGER_LIMITS = {
    # 90-140 s on a busy 2-core machine: the viewer's UI thread waits for the ingest thread,
    # which holds the model's lock while it takes in 50 MB of output
    "tests/tui/test_live_programs.py::"
    "test_a_program_printing_megabytes_keeps_the_viewer_alive": 600,
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        limit = LONGER_LIMITS.get(item.nodeid.partition("[")[0])
        if limit is not None and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(limit))
