"""Make the event loops CPython's test_asyncio creates RecordingEventLoops (for stdlib_asyncio.py).

`scripts/stdlib_asyncio.py` puts this directory on PYTHONPATH and names a directory in
LOOPVIZ_STDLIB_MARKERS. Every Python process that inherits that environment (regrtest, its
``-j`` workers, the interpreters the tests start) then, at startup:

- replaces the default policy class's ``_loop_factory`` with a staticmethod that makes a
  RecordingEventLoop: ``asyncio.new_event_loop()``, ``asyncio.run()``, ``asyncio.Runner`` and
  ``IsolatedAsyncioTestCase`` all go through it;
- unless LOOPVIZ_STDLIB_SCOPE is ``policy``, also binds the public names
  ``asyncio.SelectorEventLoop`` (and ``asyncio.EventLoop`` on 3.13+) to RecordingEventLoop,
  because most of test_events, test_sock_lowlevel, test_sendfile, test_server... construct
  ``asyncio.SelectorEventLoop(selector)`` themselves and never ask the policy.

At exit each process writes ``<pid>.json`` into the markers directory: how many loops its trace
holds (LOOP_OPEN records, decoded with loopviz's own reader), how many task steps, whether the
replacements were still in place, and which test_asyncio modules it imported. The script uses
these to prove the recorder really ran. Without LOOPVIZ_STDLIB_MARKERS this file does nothing.
"""

from __future__ import annotations

import os

MARKERS_ENV = "LOOPVIZ_STDLIB_MARKERS"
SCOPE_ENV = "LOOPVIZ_STDLIB_SCOPE"


def _trace_counts(data: bytes) -> dict[str, int | str | None]:
    """Read an in-memory trace back with loopviz's reader; count its loops and task steps."""
    import io

    from visualizer.trace import schema
    from visualizer.trace.reader import read_stream, records

    loops = steps = batches = 0
    step_kinds = {schema.STEP_YIELD, schema.STEP_WAIT, schema.STEP_DONE}
    try:
        for batch in read_stream(io.BytesIO(bytes(data)), "in-memory trace").batches:
            batches += 1
            for record in records(batch):
                kind = record[0]
                if kind == schema.LOOP_OPEN:
                    loops += 1
                elif kind in step_kinds:
                    steps += 1
    except Exception as exc:  # an unreadable trace is a finding, reported by the script
        return {"loops": loops, "steps": steps, "batches": batches, "trace_error": repr(exc)}
    return {"loops": loops, "steps": steps, "batches": batches, "trace_error": None}


def _install(markers: str, scope: str) -> None:
    """Put RecordingEventLoop in place and arrange the exit marker."""
    import asyncio
    import atexit
    import json
    import sys
    from asyncio import unix_events

    from visualizer.recorder import core
    from visualizer.recorder.loop import RecordingEventLoop

    policy_class = asyncio.DefaultEventLoopPolicy
    factory = staticmethod(RecordingEventLoop)
    policy_class._loop_factory = factory  # type: ignore[attr-defined]
    names: list[tuple[object, str]] = []
    if scope != "policy":
        for module in (asyncio, unix_events):
            for name in ("SelectorEventLoop", "EventLoop"):
                if hasattr(module, name):
                    setattr(module, name, RecordingEventLoop)
                    names.append((module, name))

    installed_in = os.getpid()
    probe = policy_class().new_event_loop()
    try:
        if type(probe) is not RecordingEventLoop:
            raise RuntimeError(f"loopviz sitecustomize: the default policy made {probe!r}")
    finally:
        probe.close()

    def write_marker() -> None:
        recorder = core.current()
        try:
            recorder.flush()
        except Exception:
            pass
        data = getattr(recorder.sink, "data", b"")
        argv = list(getattr(sys, "orig_argv", sys.argv))
        marker: dict[str, object] = {
            "pid": os.getpid(),
            "argv": argv[:4],
            "worker": "test.libregrtest.worker" in argv,
            "forked": os.getpid() != installed_in,
            "bytes": len(data),
            "dropped": recorder.dropped,
            "in_place": policy_class.__dict__.get("_loop_factory") is factory
            and all(getattr(module, name) is RecordingEventLoop for module, name in names),
            "modules": sorted(
                name for name in sys.modules if name.startswith("test.test_asyncio.test_")
            ),
        }
        counts = _trace_counts(data)
        counts["loops"] = int(counts["loops"] or 0) - 1  # not counting the probe made above
        marker.update(counts)
        path = os.path.join(markers, f"{os.getpid()}.json")
        try:
            with open(path, "w", encoding="utf-8") as stream:
                json.dump(marker, stream)
        except OSError:
            pass

    atexit.register(write_marker)


_markers = os.environ.get(MARKERS_ENV)
if _markers:
    _install(_markers, os.environ.get(SCOPE_ENV, "all"))
