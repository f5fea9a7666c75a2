"""What a viewer can do to the program it watches: cancel a task, dump every task's stack.

The commands arrive on the agent's control thread. Each is answered with an ANSWER record
(through the process source, written at once) that says what happened in words, including
when it could not be done, or not yet: a loop stuck in one callback, or held by the stepper,
gets its cancel only when it runs its ready queue again.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from typing import Any

from ..trace import schema
from . import core, waits
from .subclass import RecordingUvloop

DELIVERY_WAIT = 0.5  # seconds a cancel may take to reach its loop before the answer says so
# A loop recorded from outside between two recorded handles: uvloop's C code runs, unseen.
BETWEEN_UVLOOP_HANDLES = (
    "between recorded handles: whether uvloop waits for I/O or runs its own callbacks is not "
    "recorded"
)


def _tasks(loop: Any) -> list[Any]:
    """The loop's unfinished tasks, read from another thread (retried if the set changes)."""
    for _ in range(5):
        try:
            return list(asyncio.all_tasks(loop))
        except RuntimeError:  # the task set changed size while it was read
            continue
    return []


class Actions:
    """The cancel and dump commands of one program's recorder."""

    def __init__(self, recorder: core.Recorder) -> None:
        self.recorder = recorder

    def answer(self, text: str) -> None:
        self.recorder.emit(schema.ANSWER, core.clock(), text)

    # -- cancel ----------------------------------------------------------------------------------

    def cancel(self, message: dict[str, Any]) -> None:
        """``{"cmd": "cancel", "loop": SOURCE, "task": ID}``: ask that task to cancel."""
        source, ident = message.get("loop"), message.get("task")
        loop = next((loop for loop in self.recorder.loops() if loop._lv.src == source), None)
        if loop is None or loop.is_closed():
            self.answer(f"cancel: loop {source} is gone; nothing was cancelled")
            return
        done = threading.Event()
        lock = threading.Lock()  # orders the two answers of a late delivery
        outcome: list[str] = []
        late = False

        def in_the_loop() -> None:
            task = next((task for task in asyncio.all_tasks(loop) if id(task) == ident), None)
            if task is None:
                text = "cancel: that task has finished already; nothing to cancel"
            else:
                task.cancel(msg="cancelled from the loopviz viewer")
                text = f"cancel: asked {waits.task_label(task)} to cancel"
            with lock:  # answered here, on the loop's thread: before the program can end
                outcome.append(text)
                self.answer(f"{text} (delivered late)" if late else text)
            done.set()

        try:
            loop.call_soon_threadsafe(in_the_loop)
        except RuntimeError:  # closed meanwhile
            self.answer(f"cancel: loop {source} is closed; nothing was cancelled")
            return
        done.wait(DELIVERY_WAIT)
        with lock:
            if outcome:
                return  # delivered, and answered from the loop
            late = True
            why = ("is held by the stepper (step or continue to deliver it)"
                   if loop._lv.gate is not None and loop._lv.waiting
                   else "is busy in one callback")  # fmt: skip
            self.answer(f"cancel: not delivered yet: loop {source} {why}; it goes in when the "
                        "loop runs its ready queue again")  # fmt: skip

    # -- dump --------------------------------------------------------------------------------

    def dump(self, message: dict[str, Any]) -> None:
        """``{"cmd": "dump", "path": PATH}``: every task's stack, and what each loop's thread
        is doing, into a file. Done on this thread: a stuck loop can't stop it."""
        path = str(message.get("path") or "")
        if not path:
            self.answer("dump: no file was named; nothing was written")
            return
        try:
            text, count = self._stacks()
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
                stream.write(text)
        except OSError as exc:
            self.answer(f"dump: cannot write {path}: {exc.strerror or exc}")
            return
        self.answer(f"dump: wrote the stacks of {count} task{'s' if count != 1 else ''} "
                    f"to {path}")  # fmt: skip

    def _stacks(self) -> tuple[str, int]:
        out: list[str] = []
        count = 0
        frames = sys._current_frames()
        for loop in self.recorder.loops():
            if loop.is_closed():
                continue
            thread = loop._thread_id
            out.append(f"== loop {loop._lv.src} ({_doing(loop, thread)})")
            frame = frames.get(thread) if thread is not None else None
            if frame is not None:
                out.append("  its thread now, innermost last:")
                out.extend(f"    {line}" for line in _frame_lines(frame))
            for task in _tasks(loop):
                count += 1
                out.append(
                    f"-- {waits.task_label(task)}: " + ("done" if task.done() else "pending")
                )
                stack = task.get_stack()
                if not stack:
                    out.append("    (not started, or running now: see its thread above)")
                out.extend(f"    {line}" for f in stack
                           for line in [waits.format_site(f.f_code, f.f_lineno)])  # fmt: skip
            out.append("")
        return "\n".join(out), count


def _doing(loop: Any, thread: int | None) -> str:
    """What a loop is doing, in words, as far as its recorder knows."""
    if thread is None:
        return "not running"
    if not loop._lv.waiting:
        return "running a callback"
    return BETWEEN_UVLOOP_HANDLES if isinstance(loop, RecordingUvloop) else "waiting for I/O"


def _frame_lines(frame: Any) -> list[str]:
    """A thread's stack from `frame` out, as "file:line in function", outermost first."""
    lines = []
    while frame is not None:
        lines.append(waits.format_site(frame.f_code, frame.f_lineno))
        frame = frame.f_back
    return lines[::-1]
