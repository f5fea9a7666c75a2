"""Stepping a program: its event loop held at step points, its clock standing still meanwhile.

A step point is the top of a loop iteration (before its select) or the moment before a handle
runs. A `Stepper` decides at each point whether to go on or to hold the loop there until the
viewer says what next (its commands come from the agent's control thread):

- ``step``: run one handle, then hold at the next point;
- ``tick``: run to the top of the next iteration;
- ``until_task``: run until a given task's next step (or wakeup) is about to run;
- ``until``: run until something of a kind has happened (see `KINDS`);
- ``play``: step on by itself, one handle every `interval` seconds (held in between);
- ``continue``: run freely; ``pause``: hold at the next point; ``release``: never hold again.

While the loop is held, the time the program can read stands still: `ProgramClock` replaces
the clocks of the ``time`` module (which asyncio's ``loop.time()`` reads) and the recorder's
own with ones that leave out the time spent held. A paused ``sleep(1)`` has its whole second
left on resume, and the trace's times are the program's: a held stretch is not in them.

Only a loop running on the main thread is stepped (``asyncio.run``'s); loops in other threads
run on, and see the same held clock.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

from ..trace import schema
from . import core

# What `until` can wait for: a task created or finished, an I/O event, a timer due, a line of
# output, an error reported to the loop's exception handler.
KINDS = ("task", "done", "io", "timer", "output", "error")

# Goals: what the loop runs towards after a command.
HOLD, STEP, TICK, UNTIL_TASK, UNTIL, FREE, PLAY = range(7)

_real_perf_ns = time.perf_counter_ns
_real_monotonic_ns = time.monotonic_ns
_real_time_ns = time.time_ns


class ProgramClock:
    """The program's clocks: the real ones minus the time held, standing still while held.

    `state` is one tuple, ``(ns held before, real perf_counter_ns when the hold began or None)``,
    replaced whole, so that a clock read in another thread never sees half a change.
    """

    def __init__(self) -> None:
        self.state: tuple[int, int | None] = (0, None)
        self.installed = False

    def lag(self) -> int:
        """How far the program's clocks are behind the real ones now (ns)."""
        held, since = self.state
        return held if since is None else held + _real_perf_ns() - since

    def hold(self) -> None:
        held, since = self.state
        if since is None:
            self.state = (held, _real_perf_ns())

    def release(self) -> None:
        held, since = self.state
        if since is not None:
            self.state = (held + _real_perf_ns() - since, None)

    def install(self) -> None:
        """Put the program's clocks in place of the real ones, everywhere the program and the
        recorder read them. Done once; the lag is 0 at first, so nothing jumps."""
        if self.installed:
            return
        self.installed = True
        lag = self.lag

        def perf_counter_ns() -> int:
            return _real_perf_ns() - lag()

        def monotonic_ns() -> int:
            return _real_monotonic_ns() - lag()

        def time_ns() -> int:
            return _real_time_ns() - lag()

        def perf_counter() -> float:
            return perf_counter_ns() / 1e9

        def monotonic() -> float:
            return monotonic_ns() / 1e9

        def time_() -> float:
            return time_ns() / 1e9

        time.perf_counter_ns, time.perf_counter = perf_counter_ns, perf_counter
        time.monotonic_ns, time.monotonic = monotonic_ns, monotonic
        time.time_ns, time.time = time_ns, time_
        core.clock = perf_counter_ns
        from . import loop  # the recorder binds the clock once, at import, for speed

        loop._clock = perf_counter_ns


class Stepper:
    """Holds the main thread's recording loop at step points, as the viewer's commands say."""

    def __init__(self, *, hold: bool) -> None:
        self.clock = ProgramClock()
        self.cond = threading.Condition()
        self.goal = HOLD if hold else FREE
        self.target: Any = None  # the task id for UNTIL_TASK, the kind for UNTIL
        self.interval = 0.0  # PLAY: seconds held at each point
        self.ran = 0  # handles run since the last command
        self.seen: Counter[str] = Counter()  # events by kind (KINDS), ever
        self.since: Counter[str] = Counter()  # ...as they were at the last command
        self.pause_asked = False
        self.main = threading.main_thread().ident
        self.loops: list[Any] = []  # loops told to wake up for a pause

    # -- commands (the control thread) ----------------------------------------------------

    def command(self, message: dict[str, Any]) -> None:
        """Take one command from the viewer (see the module docstring)."""
        name = message.get("cmd")
        with self.cond:
            if name == "pause":
                if self.goal in (FREE, PLAY, UNTIL, UNTIL_TASK, TICK, STEP):
                    self.pause_asked = True
                self._wake_loops()
            elif name == "release":
                self.goal, self.pause_asked = FREE, False
            else:
                goal = {"step": STEP, "tick": TICK, "until_task": UNTIL_TASK, "until": UNTIL,
                        "continue": FREE, "play": PLAY}.get(str(name))  # fmt: skip
                if goal is None:
                    return
                if goal == UNTIL and message.get("kind") not in KINDS:
                    return
                self.goal, self.pause_asked = goal, False
                self.target = message.get("task") if goal == UNTIL_TASK else message.get("kind")
                self.interval = max(0.0, float(message.get("interval", 0.5)))
                self.ran = 0
                self.since = self.seen.copy()
            self.cond.notify_all()

    def _wake_loops(self) -> None:
        """A loop blocked in select comes round to its next point (a self-pipe write, as
        call_soon_threadsafe does)."""
        for loop in self.loops:
            try:
                loop._write_to_self()
            except Exception:
                pass  # closed, or closing: nothing to wake

    # -- what the loop tells it -------------------------------------------------------------

    def saw(self, kind: str, n: int = 1) -> None:
        self.seen[kind] += n

    def applies(self, loop: Any) -> bool:
        """Whether `loop` is the one to step; a loop in another thread is let go for good."""
        if loop._thread_id == self.main:
            if loop not in self.loops:
                self.loops.append(loop)
            return True
        loop._lv.gate = None
        return False

    # -- step points (the loop's thread) ------------------------------------------------------

    def at_top(self, loop: Any) -> None:
        """The top of an iteration, before its select."""
        if self._stops(schema.POINT_TOP, None):
            timeout, why = loop._lv_select_timeout()
            self._hold(loop, schema.POINT_TOP, 0, 0, timeout, why, None)

    def at_handle(self, loop: Any, handle: Any, k: int, n: int) -> None:
        """Before the `k`-th of the `n` handles of this iteration runs."""
        if self._stops(schema.POINT_HANDLE, handle):
            self._hold(loop, schema.POINT_HANDLE, k, n, None, 0, handle)
        self.ran += 1

    def _stops(self, point: int, handle: Any) -> bool:
        goal = self.goal
        if goal == FREE:
            return self.pause_asked
        if self.pause_asked or goal == HOLD:
            return True
        if goal in (STEP, PLAY):
            return self.ran >= 1
        if goal == TICK:
            return point == schema.POINT_TOP
        if goal == UNTIL_TASK:
            if handle is None:
                return False
            from .loop import _task_of

            task = _task_of(handle._callback)
            return task is not None and id(task) == self.target
        # UNTIL
        return self.seen[self.target] > self.since[self.target]

    def _hold(
        self, loop: Any, point: int, k: int, n: int, timeout: float | None, why: int, handle: Any
    ) -> None:
        """Say where the loop is held, and wait for the next command (or PLAY's interval)."""
        self.clock.hold()
        loop._lv.waiting = True  # held, not stuck in a handle: the watchdog leaves it be
        try:
            loop._lv_paused(point, k, n, timeout, why, handle)
            with self.cond:
                if self.pause_asked:
                    self.goal, self.pause_asked = HOLD, False
                if self.goal == PLAY:
                    self.ran = 0
                    self.cond.wait_for(lambda: self.goal != PLAY or self.pause_asked,
                                       timeout=self.interval)  # fmt: skip
                    if self.pause_asked:
                        self.goal, self.pause_asked = HOLD, False
                    if self.goal != HOLD:
                        return  # played on, or a new command came in meanwhile
                self.goal = HOLD
                while self.goal == HOLD:
                    # woken now and then, so that a signal handler runs on the main thread
                    self.cond.wait(0.2)
        finally:
            loop._lv.waiting = False
            self.clock.release()
            loop._lv_resumed(self.clock.lag())


def install(*, hold: bool) -> Stepper:
    """Start stepping: from the first step point when `hold`, else from the next pause."""
    stepper = core.stepper
    if stepper is None:
        stepper = Stepper(hold=hold)
        stepper.clock.install()
        core.stepper = stepper
        # loops that exist already (loopviz run, paused later) are stepped from now on
        for loop in core.current().loops():
            loop._lv.gate = stepper
    return stepper
