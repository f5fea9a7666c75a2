"""Make the event loops CPython's test_asyncio creates recording loops (for stdlib_asyncio.py).

`scripts/stdlib_asyncio.py` puts this directory on PYTHONPATH and names a directory in
LOOPVIZ_STDLIB_MARKERS. Every Python process that inherits that environment (regrtest, its
``-j`` workers, the interpreters the tests start) then, at startup, turns on what ``loopviz
record`` turns on in a program (``visualizer.recorder.install.install()``): constructing any
selector loop class makes its recording subclass. That reaches every loop the suite makes,
however: ``asyncio.new_event_loop()``, ``asyncio.run()``, ``asyncio.Runner(loop_factory=...)``,
``IsolatedAsyncioTestCase``, and the ``asyncio.SelectorEventLoop(selector)`` /
``asyncio.EventLoop()`` that most of test_events, test_sock_lowlevel, test_sendfile and test_server
build themselves. It goes through no event loop policy, so it works the same on 3.14+ (where
policies are deprecated) and warns nothing: a DeprecationWarning while installing is an error.

At exit each process writes ``<pid>.json`` into the markers directory: how many loops its trace
holds (LOOP_OPEN records, decoded with loopviz's own reader), how many task steps, whether the
hook was still in place, and which test_asyncio modules it imported. The script uses these to
prove the recorder really ran. Without LOOPVIZ_STDLIB_MARKERS this file does nothing.
"""

from __future__ import annotations

import os

MARKERS_ENV = "LOOPVIZ_STDLIB_MARKERS"


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


def _install(markers: str) -> None:
    """Put the recording hook in place, check it, and arrange the exit marker."""
    import asyncio
    import atexit
    import json
    import sys
    import warnings
    from asyncio import unix_events

    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        from visualizer.recorder import core, install
        from visualizer.recorder.loop import RecordingLoop

        install.install()  # into core.current(): memory, read back at exit
        selector_loop = asyncio.selector_events.BaseSelectorEventLoop
        hook = vars(selector_loop)["__new__"]
        probes = [asyncio.SelectorEventLoop()]
        if hasattr(asyncio, "EventLoop"):  # 3.13+
            probes.append(asyncio.EventLoop())
        # what new_event_loop() and asyncio.run() make, from a policy of our own: the global one
        # is not created here (regrtest checks that a test leaves it as it found it)
        policy_class = getattr(unix_events, "_UnixDefaultEventLoopPolicy", None)  # until 3.16
        if policy_class is not None:
            probes.append(policy_class().new_event_loop())
    try:
        for probe in probes:
            if not isinstance(probe, RecordingLoop):
                raise RuntimeError(f"loopviz sitecustomize: a new loop is not recorded: {probe!r}")
    finally:
        for probe in probes:
            probe.close()

    installed_in = os.getpid()

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
            "in_place": vars(selector_loop).get("__new__") is hook,
            "modules": sorted(
                name for name in sys.modules if name.startswith("test.test_asyncio.test_")
            ),
        }
        counts = _trace_counts(data)
        counts["loops"] = int(counts["loops"] or 0) - len(probes)  # not the probes made above
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
    _install(_markers)
