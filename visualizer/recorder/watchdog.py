"""The watchdog: a thread that notices a loop stuck in one handle and records where it is stuck.

Every `interval` seconds it looks at each recording loop that is running: if the loop is not
waiting (in select, or held by the stepper) and has recorded nothing since the last look, one
handle has held it all that time. Once that has lasted `threshold` seconds it samples the loop
thread's stack (`sys._current_frames`) and records it as a STACK record, through the process
source, which writes at once: a live viewer sees where the loop is stuck while it still is. It
samples again every `threshold` while the handle goes on, so a long block gives a few samples.

It costs the program nothing while nothing blocks: a few attribute reads a few times a second,
on a thread of its own.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

from ..trace import schema
from . import core

INTERVAL = 0.025  # seconds between looks
THRESHOLD_MS = 100.0  # a handle this long is sampled (loopviz's --max-block-ms)
STACK_DEPTH = 40  # frames kept, innermost ones


def current_task_of(loop: Any) -> Any:
    """The task whose step `loop` is running (None for a plain callback), read from another
    thread. Imported here, not at the top: a program that never imports asyncio runs under the
    agent without it (start-up budget)."""
    import asyncio

    if sys.version_info >= (3, 14):
        # C tasks keep the current task in each thread's state (`_current_tasks` stays empty),
        # and `current_task(loop)` looks for the thread running `loop` when not the caller's.
        return asyncio.current_task(loop)
    # `current_task(loop)` reads this same dict (the C one, re-exported by asyncio.tasks); read
    # it directly: one dict lookup, atomic under the GIL, from any thread.
    return asyncio.tasks._current_tasks.get(loop)  # type: ignore[attr-defined]


class Watchdog:
    """Watches the recorder's loops; `start` it once, `stop` it at the end.

    Its thread is stopped across ``os.fork()`` and started again in the parent, so the child
    gets no thread caught holding a lock, and a program with no thread of its own gets no
    "multi-threaded, use of fork() may lead to deadlocks" warning (3.12+) that python would not
    give. 3.14+ count the threads before the fork hooks run: the thread starts again at once.
    3.12 and 3.13 count them after: it starts again when a loop next writes its records (within
    0.1 s of a running loop's next iteration), so a handle that forks and then blocks on is not
    sampled there.
    """

    def __init__(self, recorder: core.Recorder, threshold: float = 0.1) -> None:
        self.recorder = recorder
        self.threshold = threshold
        self._stopped = False
        self._halt = threading.Event()  # the running thread's own: set to end that thread
        self._thread: threading.Thread | None = None
        # id(loop) -> (the buffer seen, its length, seconds it has not changed, last sample at)
        self._seen: dict[int, tuple[Any, int, float, float]] = {}

    def start(self) -> None:
        self._stopped = False
        self._launch()
        _running.add(self)

    def stop(self) -> None:
        self._stopped = True
        self._halt.set()
        _running.discard(self)
        write = vars(self.recorder).get("write")
        if getattr(write, "__name__", "") == "write_then_resume":
            del self.recorder.write  # a resume after a fork was still to come: not any more

    def _launch(self) -> None:
        self._halt = halt = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(halt,), name="loopviz-watchdog", daemon=True
        )
        self._thread.start()

    def _pause(self) -> None:
        """Before a fork: end the thread, and wait for it (a look takes well under a second)."""
        self._halt.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(1.0)

    def _resume(self) -> None:
        """After a fork, in the parent: a new thread, unless stopped meanwhile."""
        if self._stopped:
            return
        if _THREADS_COUNTED_AFTER_FORK_HOOKS:
            self._resume_at_next_write()
        else:
            self._launch()

    def _resume_at_next_write(self) -> None:
        """Start the thread from the recorder's next write: after os.fork() has returned (and
        counted threads). The recorder's own method again from then on: it costs nothing."""
        recorder = self.recorder
        write = type(recorder).write
        parent = os.getpid()

        def write_then_resume(*args: Any, **kwargs: Any) -> Any:
            vars(recorder).pop("write", None)
            with _resume_lock:
                thread = self._thread
                if (
                    os.getpid() == parent
                    and self in _running
                    and (thread is None or not thread.is_alive())
                ):
                    self._launch()
            return write(recorder, *args, **kwargs)

        recorder.write = write_then_resume  # type: ignore[method-assign]

    def _run(self, halt: threading.Event) -> None:
        while not halt.wait(INTERVAL):
            try:
                self.look()
            except Exception:
                pass  # the watchdog must never take the program down

    def look(self, elapsed: float = INTERVAL) -> None:
        """One look at every loop; `elapsed`: seconds since the last."""
        loops = self.recorder.loops()
        alive = set()
        for loop in loops:
            key = id(loop)
            alive.add(key)
            lv = loop._lv
            thread = loop._thread_id
            if lv.waiting or thread is None or lv.closed:
                self._seen.pop(key, None)
                continue
            buf = lv.buf
            seen = self._seen.get(key)
            if seen is None or seen[0] is not buf or seen[1] != len(buf):
                self._seen[key] = (buf, len(buf), 0.0, 0.0)  # it moved on
                continue
            stuck, sampled = seen[2] + elapsed, seen[3]
            if stuck >= self.threshold and stuck - sampled >= self.threshold - 1e-9:
                self._sample(lv.src, thread, loop, stuck)
                sampled = stuck
            self._seen[key] = (buf, len(buf), stuck, sampled)
        for key in set(self._seen) - alive:
            del self._seen[key]

    def _sample(self, source: int, thread: int, loop: Any, stuck: float) -> None:
        frame = sys._current_frames().get(thread)
        if frame is None:
            return
        from . import waits  # asyncio is imported by now: a loop is stuck

        # the task whose step it is (None for a plain callback): asyncio's own record of it
        task = current_task_of(loop)
        lines: list[str] = []
        while frame is not None and len(lines) < STACK_DEPTH:
            lines.append(waits.format_site(frame.f_code, frame.f_lineno))
            frame = frame.f_back
        lines.reverse()  # outermost first, as a traceback reads
        ident, label = (0, "") if task is None else (id(task), waits.task_label(task))
        self.recorder.emit(schema.STACK, core.clock(), source, int(stuck * 1e9), ident, label,
                           "\n".join(lines))  # fmt: skip


_running: set[Watchdog] = set()  # started and not stopped, in this process
_resume_lock = threading.Lock()
# os.fork()'s "multi-threaded" warning (3.12+) counts threads after the after-fork hooks on 3.12
# and 3.13, before the fork on 3.14+
_THREADS_COUNTED_AFTER_FORK_HOOKS = (3, 12) <= sys.version_info < (3, 14)


def _before_fork() -> None:
    for dog in list(_running):
        dog._pause()


def _after_fork_in_parent() -> None:
    for dog in list(_running):
        dog._resume()


def _after_fork_in_child() -> None:
    _running.clear()  # the parent's watchdogs: their threads did not come along


os.register_at_fork(
    before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child
)
