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
