"""Making asyncio use the recording loop: every selector loop a program makes (`install()`,
`record()`, the agent), a policy (3.11–3.13), a loop factory (any version), and `mark()`.

Every loop, however it is made: asyncio's own ``new_event_loop()``, ``asyncio.run(...,
loop_factory=asyncio.SelectorEventLoop)``, a program's own policy or ``SelectorEventLoop``
subclass, uvicorn's ``Runner(loop_factory=...)``. While recording is on, constructing any
selector loop class makes an instance of its recording subclass instead (`loop.recording_class`:
same name, module and repr), through a ``__new__`` on ``BaseSelectorEventLoop``. A policy could
not see loops made without it, and 3.14 deprecates policies.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..trace import schema
from ..trace.format import encode_batch
from . import core
from .loop import RecordingEventLoop, recordable, recording_class

_POLICIES_DEPRECATED = sys.version_info >= (3, 14)


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


def _get_policy() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return asyncio.get_event_loop_policy()


def _set_policy(policy: Any) -> None:
    if _POLICIES_DEPRECATED:
        # Set it the way asyncio does internally, so the program sees no DeprecationWarning.
        asyncio.events._event_loop_policy = policy  # type: ignore[attr-defined]
    else:
        asyncio.set_event_loop_policy(policy)


_SELECTOR_LOOP = asyncio.selector_events.BaseSelectorEventLoop
_hook_users = 0
_hook_lock = threading.Lock()


def _new_loop(cls: type, *args: Any, **kwargs: Any) -> Any:
    """``BaseSelectorEventLoop.__new__`` while recording: a recording loop of the class asked."""
    if recordable(cls):
        cls = recording_class(cls)
    return object.__new__(cls)


def _hook_loops(on: bool) -> None:
    """Turn recording of every new selector loop on (once per user) or off (when the last
    user is gone)."""
    global _hook_users
    with _hook_lock:
        _hook_users += 1 if on else -1
        if on and _hook_users == 1:
            _SELECTOR_LOOP.__new__ = staticmethod(_new_loop)  # type: ignore[assignment]
        elif not on and _hook_users == 0 and "__new__" in vars(_SELECTOR_LOOP):
            del _SELECTOR_LOOP.__new__


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
        _hook_loops(True)
    return recorder


_installed: list[core.Recorder] = []  # install() turns the hook on once, for good


UVLOOP_REPLACED = "uvloop replaced by asyncio's loop for recording"


def install_for_agent(
    recorder: core.Recorder, *, keep_uvloop: bool = False, say: Callable[[str], None] | None = None
) -> None:
    """What ``loopviz record/run/step`` do before the program starts: record every selector
    loop it makes into `recorder`, and (unless `keep_uvloop`) make uvloop's loop asyncio's.

    `say` tells the person at the terminal, once, that uvloop was replaced.
    """
    core.set_current(recorder)
    _hook_loops(True)
    if not keep_uvloop:
        _after_import("uvloop", lambda module: _replace_uvloop(module, recorder, say))


def _replace_uvloop(
    module: Any, recorder: core.Recorder, say: Callable[[str], None] | None
) -> None:
    """Make ``uvloop.Loop`` a recording asyncio loop. ``new_event_loop()``, ``run()`` (whose
    check is ``isinstance(loop, Loop)``), ``install()`` and ``EventLoopPolicy`` all make their
    loops through that module-level name, and so does uvicorn (``uvloop.new_event_loop``)."""
    told: list[bool] = []
    base = recording_class(asyncio.SelectorEventLoop)

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        base.__init__(self, *args, **kwargs)
        if not told:
            told.append(True)
            recorder.note(UVLOOP_REPLACED)
            if say is not None:
                say(f"{UVLOOP_REPLACED} (loopviz --keep-uvloop keeps it, unrecorded)")

    namespace = {"__init__": __init__, "__module__": base.__module__,
                 "__qualname__": base.__qualname__, "__doc__": base.__doc__}  # fmt: skip
    module.Loop = type(base.__name__, (base,), namespace)


class _AfterImport:
    """A meta path finder that runs `then(module)` once module `name` has been imported, so that
    loopviz need not import it (a program that never imports uvloop pays nothing)."""

    def __init__(self, name: str, then: Callable[[Any], None]) -> None:
        self.name = name
        self.then = then

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != self.name:
            return None
        import importlib.util

        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)  # once, and not for the look-up just below
        spec = importlib.util.find_spec(fullname)
        loader = None if spec is None else spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        run_module = loader.exec_module
        then = self.then

        def exec_module(module: Any) -> None:
            run_module(module)
            try:
                then(module)
            except Exception:
                pass  # recording is the worse for it, never the program

        loader.exec_module = exec_module
        return spec


def _after_import(name: str, then: Callable[[Any], None]) -> None:
    """Run `then(module)` when `name` is imported, or now if it already is."""
    module = sys.modules.get(name)
    if module is not None:
        then(module)
    else:
        sys.meta_path.insert(0, _AfterImport(name, then))


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
    _hook_loops(True)
    try:
        yield Recording(recorder, None if path is None else os.fspath(path))
    finally:
        _hook_loops(False)
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
