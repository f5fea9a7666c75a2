"""Making asyncio use the recording loop: every selector loop a program makes (`install()`,
`record()`, the agent), a policy (3.11–3.13), a loop factory (any version), and `mark()`.

Every loop, however it is made: asyncio's own ``new_event_loop()``, ``asyncio.run(...,
loop_factory=asyncio.SelectorEventLoop)``, a program's own policy or ``SelectorEventLoop``
subclass, uvicorn's ``Runner(loop_factory=...)``. While recording is on, constructing any
selector loop class makes an instance of its recording subclass instead (`loop.recording_class`:
same name, module and repr), through a ``__new__`` on ``BaseSelectorEventLoop`` (`hooks`). A
policy could not see loops made without it, and 3.14 deprecates policies.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..trace import schema
from ..trace.format import encode_batch
from . import core, hooks
from .loop import RecordingEventLoop, recording_class


def loop_factory() -> RecordingEventLoop:
    """For ``asyncio.run(main(), loop_factory=visualizer.loop_factory)`` and ``asyncio.Runner``."""
    return RecordingEventLoop()


def _default_policy_class() -> type:
    """asyncio's default policy class, fetched without the DeprecationWarning 3.14 gives."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return asyncio.DefaultEventLoopPolicy  # type: ignore[attr-defined]


class RecordingEventLoopPolicy(_default_policy_class()):  # type: ignore[misc]
    """The default policy, except that every new loop is a RecordingEventLoop."""

    _loop_factory = RecordingEventLoop


def install(path: str | os.PathLike[str] | None = None) -> core.Recorder:
    """Record every event loop the process makes from now on (into `path`, or into memory).

    Returns the recorder; call its ``close()`` (or let the process exit) to finish the trace.
    """
    if path is not None:
        recorder = core.Recorder(core.FileSink(path))
        atexit.register(recorder.close)  # what loops still hold is written at exit
    else:
        recorder = core.current()
    core.set_current(recorder)
    if not _installed:
        _installed.append(recorder)
        hooks.hook_loops(True)
    return recorder


_installed: list[core.Recorder] = []  # install() turns the hook on once, for good


UVLOOP_REPLACED = "uvloop replaced by asyncio's loop for recording"
UVLOOP_KEPT = (
    "uvloop kept: recorded as a subclass of uvloop.Loop sees it (tasks, steps, waits, timers); "
    "its select, I/O, ready queue and own callbacks are not recorded"
)


def replace_uvloop(module: Any, recorder: core.Recorder, say: Callable[[str], None] | None) -> None:
    """Make ``uvloop.Loop`` a recording asyncio loop. ``new_event_loop()``, ``run()`` (whose
    check is ``isinstance(loop, Loop)``), ``install()`` and ``EventLoopPolicy`` all make their
    loops through that module-level name, and so does uvicorn (``uvloop.new_event_loop``)."""
    base = recording_class(asyncio.SelectorEventLoop)
    module.Loop = _telling(base, recorder, say, UVLOOP_REPLACED,
                           "loopviz --keep-uvloop keeps it, recorded from outside")  # fmt: skip


def keep_uvloop(module: Any, recorder: core.Recorder, say: Callable[[str], None] | None) -> None:
    """Make ``uvloop.Loop`` its recording subclass (`subclass.recording_class`), through the
    same module-level name as `replace_uvloop`."""
    from .subclass import recording_class as recording_uvloop

    base = recording_uvloop(module.Loop)
    module.Loop = _telling(base, recorder, say, UVLOOP_KEPT, "loopviz without --keep-uvloop "
                           "puts asyncio's loop in its place, recorded whole")  # fmt: skip


def _telling(
    base: type, recorder: core.Recorder, say: Callable[[str], None] | None, note: str, hint: str
) -> type:
    """A subclass of `base` (its name, module and repr) whose first loop notes `note` in the
    trace and says it (with `hint`) on the terminal."""
    told: list[bool] = []

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        base.__init__(self, *args, **kwargs)
        if not told:
            told.append(True)
            recorder.note(note)
            if say is not None:
                say(f"{note} ({hint})")

    namespace = {"__init__": __init__, "__module__": base.__module__,
                 "__qualname__": base.__qualname__, "__doc__": base.__doc__}  # fmt: skip
    return type(base.__name__, (base,), namespace)


@dataclass
class Recording:
    """What `record()` yields: where the trace went, and its bytes when it stayed in memory."""

    recorder: core.Recorder
    path: str | None

    def data(self) -> bytes:
        """The whole trace as bytes (read back from the file when there is one)."""
        self.recorder.flush()
        if self.path is not None:
            with open(self.path, "rb") as stream:
                return stream.read()
        sink = self.recorder.sink
        assert isinstance(sink, core.MemorySink)
        data = bytes(sink.data)
        if self.recorder.dropped:
            # The buffer kept the beginning; say how much of the rest it had to leave out.
            data += encode_batch([0, schema.DROPPED, core.clock(), self.recorder.dropped])
        return data


@contextlib.contextmanager
def record(
    path: str | os.PathLike[str] | None = None, *, limit: int = core.MEMORY_LIMIT
) -> Iterator[Recording]:
    """Record every event loop created inside the block, into `path` or into memory."""
    if path is not None:
        recorder = core.Recorder(core.FileSink(path))
    else:
        recorder = core.Recorder(core.MemorySink(limit))
    previous_recorder = core.set_current(recorder)
    hooks.hook_loops(True)
    try:
        yield Recording(recorder, None if path is None else os.fspath(path))
    finally:
        hooks.hook_loops(False)
        core.set_current(previous_recorder)
        recorder.flush()
        if path is not None:
            recorder.close()


def mark(text: str) -> None:
    """Put a mark with `text` on the timeline, at this moment, in the current task."""
    loop = asyncio._get_running_loop()
    if hasattr(loop, "_lv"):
        task = asyncio.current_task(loop)
        loop._lv_note(schema.MARK, id(task) if task is not None else 0, str(text))
    else:
        recorder = core.current()
        recorder.emit(schema.MARK, core.clock(), 0, 0, recorder.intern(str(text)))
