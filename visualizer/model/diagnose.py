"""Warnings that point at asyncio bugs, found in a model: one small rule object per bug.

Each rule has a name (for the command line: ``--disable loop-blocked``), a title, a severity,
and `check(model, settings)`, which yields a `Finding` per occurrence: when, which loop and
tasks, a sentence saying what happened and a suggested fix. `diagnose` runs every rule that is
on and returns the findings in time order; `counts` sums them up per rule.

The rules read what the trace says and nothing else. Where asyncio itself reports a bug (an
exception never retrieved, a task destroyed while pending, a coroutine never awaited), the rule
takes asyncio's word from the trace: those messages are exact.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import groupby
from operator import sub
from typing import ClassVar

from ..trace import schema
from .replay import Model
from .state import (
    BEGIN,
    END,
    READY_SINCE,
    ROW,
    SUSPENSION,
    YIELDED,
    LoopError,
    Task,
    short_site,
)  # fmt: skip

MS = 1_000_000

ERROR, WARNING = "error", "warning"


@dataclass(frozen=True)
class Finding:
    """One warning: what a rule found, when, and what to do about it."""

    rule: str  # the rule's name
    severity: str  # ERROR or WARNING
    t: int  # when it happened (or began)
    loop: int  # the loop's source (0: the process)
    tasks: tuple[int, ...]  # the tasks it concerns (indexes in Model.tasks), first the main one
    sentence: str  # what happened, in one line
    fix: str  # what to do about it, in one line
    until: int | None = None  # when it ended, for a stretch of time (a blocked loop)


@dataclass(frozen=True)
class Settings:
    """Thresholds, and the rules turned off (by name)."""

    block_ms: float = 100.0  # loop-blocked: one callback or step this long
    delay_ms: float = 100.0  # long-delay: this long in the ready queue before a step
    spin_yields: int = 100  # busy-self-wake: this many yields in a row...
    spin_ms: float = 100.0  # ...lasting at least this long
    first_step_ms: float = 100.0  # never-yielded: a first step this long
    disabled: frozenset[str] = field(default_factory=frozenset)


def _ms(ns: int) -> str:
    return f"{ns / MS:,.0f} ms" if ns < 10_000 * MS else f"{ns / 1e9:,.1f} s"


class Rule:
    """A warning's rule: override `check`."""

    name: ClassVar[str]
    title: ClassVar[str]
    severity: ClassVar[str]
    explains: ClassVar[str]  # one line for a person: what the rule looks for

    def check(self, model: Model, settings: Settings) -> Iterator[Finding]:
        raise NotImplementedError

    def finding(self, t: int, loop: int, tasks: Iterable[int], sentence: str, fix: str,
                until: int | None = None) -> Finding:  # fmt: skip
        return Finding(self.name, self.severity, t, loop, tuple(tasks), sentence, fix, until)


class LoopBlocked(Rule):
    name = "loop-blocked"
    title = "Loop blocked"
    severity = WARNING
    explains = "a callback or task step ran so long that nothing else could run meanwhile"

    def check(self, model: Model, settings: Settings) -> Iterator[Finding]:
        limit = int(settings.block_ms * MS)
        for source, loop in sorted(model.loops.items()):
            s = loop.series
            for begin, end, task in zip(s.long_begin, s.long_end, s.long_task, strict=True):
                if end - begin < limit:
                    continue
                if task >= 0:
                    who, tasks = model.tasks[task].label, (task,)
                    where = self._resumed_at(model.tasks[task], begin)
                else:
                    who, tasks, where = "A callback", (), ""
                samples = model.samples_between(source, begin, end)
                if samples:  # the watchdog saw where: the spot seen most often
                    spot, seen = Counter(sample.where for sample in samples).most_common(1)[0]
                    where = f", stuck at {short_site(spot)} ({seen} of {len(samples)} samples)"
                yield self.finding(
                    begin, source, tasks,
                    f"{who} held loop {source} for {_ms(end - begin)}{where}: no other task, "
                    "callback or I/O could run meanwhile.",
                    "Move the blocking call off the loop (await asyncio.to_thread(...) or "
                    "loop.run_in_executor) or break CPU work up with await asyncio.sleep(0).",
                    end,
                )  # fmt: skip

        yield from self._still_stuck(model, limit)

    def _still_stuck(self, model: Model, limit: int) -> Iterator[Finding]:
        """A handle holding its loop now (the watchdog sees it; its record is yet to come)."""
        for source in sorted({*model.loops, *(sample.loop for sample in model.stacks)}):
            since = model.stuck_since(source)
            sample = model.stuck_at(source)
            if since is None or sample is None or model.end - since < limit:
                continue
            task = sample.task
            who = model.tasks[task].label if task is not None else sample.label or "A callback"
            samples = model.samples_between(source, since, model.end)
            spot, seen = Counter(s.where for s in samples).most_common(1)[0]
            yield self.finding(
                since, source, () if task is None else (task,),
                f"{who} has held loop {source} for {_ms(model.end - since)} so far, stuck at "
                f"{short_site(spot)} ({seen} of {len(samples)} samples): nothing else can run.",
                "Move the blocking call off the loop (await asyncio.to_thread(...) or "
                "loop.run_in_executor) or break CPU work up with await asyncio.sleep(0).",
            )  # fmt: skip

    @staticmethod
    def _resumed_at(task: Task, begin: int) -> str:
        """Where the step that began at `begin` went on from: its task's last suspension."""
        steps = task.steps
        for n in range(len(steps)):
            if steps[n].begin == begin:
                site = steps[n - 1].site if n else ""
                return f", going on from {short_site(site)}" if site else ""
        return ""


def _reported(model: Model, message: str) -> Iterator[tuple[LoopError, tuple[int, ...], str]]:
    """The errors asyncio reported with `message`: each with its task (if named) in words."""
    for error in model.errors:
        if error.message.startswith(message):
            if error.task is None:
                yield error, (), "A task"
            else:
                yield error, (error.task,), model.tasks[error.task].label


class NeverRetrieved(Rule):
    name = "never-retrieved"
    title = "Exception never retrieved"
    severity = ERROR
    explains = "a task failed and nobody awaited it or read its exception"
    MESSAGE = "Task exception was never retrieved"

    def check(self, model: Model, settings: Settings) -> Iterator[Finding]:
        for error, tasks, who in _reported(model, self.MESSAGE):
            last = error.detail.strip().splitlines()[-1] if error.detail.strip() else ""
            failed = f" with {last}" if last else ""
            yield self.finding(
                error.t, error.loop, tasks,
                f"{who} failed{failed}, and nobody awaited it or read its exception: asyncio "
                "only said so when the task was garbage-collected.",
                "Keep the task create_task returns and await it (or gather it), or add a done "
                "callback that reads task.exception().",
            )  # fmt: skip


class DestroyedPending(Rule):
    name = "destroyed-pending"
    title = "Task destroyed while pending"
    severity = ERROR
    explains = "a task was garbage-collected before it finished"
    MESSAGE = "Task was destroyed but it is pending"

    def check(self, model: Model, settings: Settings) -> Iterator[Finding]:
        for error, tasks, who in _reported(model, self.MESSAGE):
            yield self.finding(
                error.t, error.loop, tasks,
                f"{who} was garbage-collected before it finished: nothing kept a reference to "
                "it, so it never ran to its end.",
                "Keep a reference to every task create_task returns until it is done (a set, "
                "with task.add_done_callback(tasks.discard)), or use a TaskGroup.",
            )  # fmt: skip


class PendingAtShutdown(Rule):
    name = "pending-at-shutdown"
    title = "Pending at shutdown"
    severity = WARNING
    explains = "tasks were still pending when the main coroutine returned or the loop closed"

    def check(self, model: Model, settings: Settings) -> Iterator[Finding]:
        for source, loop in sorted(model.loops.items()):
            if loop.closed is None:
                continue  # still running when the trace ends: nothing shut down yet
            mine = [task for task in model.tasks if task.loop == source]
            main = next((task for task in mine if task.parent is None), None)
            end = main.ended if main is not None and main.ended is not None else loop.closed
            # what asyncio.run cleans up: tasks not done when main's run of the loop ended (a
            # task that ended after main() in that same run was never in its hands)
            run_end = next((t for t in loop.run_ends if t >= end), end)
            left = [task for task in mine if task is not main and not _shutdown_task(task)
                    and task.created <= end and (task.ended is None or task.ended > run_end)
                    and (task.gone is None or task.gone > end)  # destroyed-pending's
                    and not _cancelled_by_the_program(task, mine)]  # fmt: skip
            if not left:
                continue
            cancelled = [task for task in left if task.outcome == schema.OUTCOME_CANCELLED]
            names = ", ".join(task.label for task in left[:5]) + (" ..." if len(left) > 5 else "")
            what = "main() returned" if main is not None and main.ended is not None else (
                "the loop closed")  # fmt: skip
            fate = (f"; asyncio.run cancelled {len(cancelled)} of them" if cancelled
                    else "; they never finished")  # fmt: skip
            yield self.finding(
                end, source, [task.index for task in left],
                f"{len(left)} task{'s were' if len(left) > 1 else ' was'} still pending when "
                f"{what}: {names}{fate}.",
                "Cancel and await your tasks before returning (a TaskGroup does it for you), "
                "so they stop where you choose, not mid-work.",
            )  # fmt: skip


def _cancelled_by_the_program(task: Task, tasks: list[Task]) -> bool:
    """The program itself asked `task` to stop (a cancel() from one of its tasks), even if the
    request was seen only after main() returned: the trace sees it at the task's next step.

    Who asked is a guess from who queued that step; when a timer had queued it already, the
    guess names the timer. Then asyncio.run's own cancel() on top made two pending at once."""
    labels = {other.label for other in tasks}
    return task.cancelling >= 2 or any(by in labels for _, by in task.cancel_requests)


def _shutdown_task(task: Task) -> bool:
    """asyncio.run's own clean-up tasks (shutdown_asyncgens, shutdown_default_executor)."""
    return task.coro.startswith("BaseEventLoop.shutdown_")


class NeverAwaited(Rule):
    name = "never-awaited"
    title = "Coroutine never awaited"
    severity = ERROR
    explains = "a coroutine was created and dropped without being awaited"
    PATTERN = re.compile(
        r"(?:(\S+?):(\d+): )?RuntimeWarning: coroutine '([^']+)' was never awaited"
    )

    def check(self, model: Model, settings: Settings) -> Iterator[Finding]:
        for output in model.output:
            for match in self.PATTERN.finditer(output.text):
                path, line, coro = match.groups()
                where = f" (at {path}:{line})" if path else ""
                yield self.finding(
                    output.t, 0, (),
                    f"The coroutine {coro}() was created but never awaited{where}: its code "
                    "never ran.",
                    "Await it (await f()), or run it concurrently with asyncio.create_task(f()) "
                    "and keep the task.",
                )  # fmt: skip


class LongDelay(Rule):
    name = "long-delay"
    title = "Long scheduling delay"
    severity = WARNING
    explains = "a task sat in the ready queue a long time before the loop got to it"

    GROUP = 5  # more tasks than this kept waiting on one loop: one finding for them all
    FIX = "Find what held the loop then (the timeline's k key) and keep callbacks and steps short."

    def check(self, model: Model, settings: Settings) -> Iterator[Finding]:
        limit = int(settings.delay_ms * MS)
        late: dict[int, list[tuple[int, int, int, Task]]] = {}  # loop -> (worst, when, n, task)
        for task in model.tasks:
            rows = task.rows
            begins = rows[BEGIN::ROW]
            # in C, column by column: a trace of a million steps is looked through in ~50 ms
            waits = list(map(sub, begins, rows[READY_SINCE::ROW]))
            worst = max(waits, default=0)
            if worst < limit:
                continue
            when = begins[waits.index(worst)]
            n = len(waits) - bisect_left(sorted(waits), limit)
            late.setdefault(task.loop, []).append((worst, when, n, task))
        for loop, found in late.items():
            if len(found) > self.GROUP:  # a saturated loop: one finding, not one per task
                yield self._many(loop, found, limit)
                continue
            for worst, when, n, task in found:
                times = f" ({n} steps waited {_ms(limit)} or more)" if n > 1 else ""
                yield self.finding(
                    when - worst, task.loop, (task.index,),
                    f"{task.label} was ready but waited {_ms(worst)} for the loop to run it"
                    f"{times}: the loop was busy elsewhere.",
                    self.FIX, when,
                )  # fmt: skip

    def _many(self, loop: int, found: list[tuple[int, int, int, Task]], limit: int) -> Finding:
        found.sort(key=lambda item: item[0], reverse=True)  # the worst first
        worst, when, _, task = found[0]
        steps = sum(n for _, _, n, _ in found)
        return self.finding(
            when - worst, loop, (item[3].index for item in found),
            f"{len(found):,} tasks on loop {loop} waited {_ms(limit)} or more in the ready queue "
            f"({steps:,} steps); the worst, {task.label}, waited {_ms(worst)}: the loop was "
            "saturated or busy elsewhere.",
            self.FIX, when,
        )  # fmt: skip


class BusySelfWake(Rule):
    name = "busy-self-wake"
    title = "Busy self-wake"
    severity = WARNING
    explains = "a task keeps yielding (sleep(0)) without waiting on anything: it spins"

    def check(self, model: Model, settings: Settings) -> Iterator[Finding]:
        least, span = settings.spin_yields, int(settings.spin_ms * MS)
        for task in model.tasks:
            rows = task.rows
            suspensions = rows[SUSPENSION::ROW]
            if suspensions.count(YIELDED) < least:
                continue  # counted in C: most tasks never yield that often
            begins, ends = rows[BEGIN::ROW], rows[END::ROW]
            n = 0
            for yielded, run in groupby(suspensions, key=lambda code: code == YIELDED):
                size = len(list(run))
                if yielded:
                    # the run ends when the step after it does (or, if none, at its last end)
                    last = min(n + size, len(ends) - 1)
                    yield from self._spun(task, begins[n], size, ends[last], least, span)
                n += size

    def _spun(self, task: Task, first: int, size: int, end: int, least: int, span: int
              ) -> Iterator[Finding]:  # fmt: skip
        if size >= least and end - first >= span:
            yield self.finding(
                first, task.loop, (task.index,),
                f"{task.label} yielded {size:,} times in a row over {_ms(end - first)} "
                "without waiting on anything: it spins, keeping the loop busy.",
                "Wait on what it polls for (an Event, a Queue, a Condition) or sleep a real "
                "interval instead of looping on asyncio.sleep(0).",
                end,
            )  # fmt: skip


class NeverYielded(Rule):
    name = "never-yielded"
    title = "Never yielded"
    severity = WARNING
    explains = "a task's first step ran a long time before it first gave the loop back"

    def check(self, model: Model, settings: Settings) -> Iterator[Finding]:
        limit = int(settings.first_step_ms * MS)
        for task in model.tasks:
            rows = task.rows
            if not rows or rows[END] - rows[BEGIN] < limit:
                continue
            took = rows[END] - rows[BEGIN]
            yield self.finding(
                rows[BEGIN], task.loop, (task.index,),
                f"{task.label} ran {_ms(took)} from its start before it first awaited something "
                "that suspends: everything else waited.",
                "Await early (and often) in a long coroutine, or run its slow start in a thread "
                "with asyncio.to_thread.",
                rows[END],
            )  # fmt: skip


RULES: tuple[Rule, ...] = (
    LoopBlocked(), NeverRetrieved(), DestroyedPending(), PendingAtShutdown(), NeverAwaited(),
    LongDelay(), BusySelfWake(), NeverYielded(),
)  # fmt: skip
RULE_NAMES: tuple[str, ...] = tuple(rule.name for rule in RULES)


def diagnose(model: Model, settings: Settings | None = None) -> list[Finding]:
    """Every finding of every rule that is on, in time order."""
    settings = settings or Settings()
    unknown = settings.disabled - set(RULE_NAMES)
    if unknown:
        raise ValueError(f"no rule {', '.join(sorted(unknown))}: the rules are "
                         f"{', '.join(RULE_NAMES)}")  # fmt: skip
    found = [finding for rule in RULES if rule.name not in settings.disabled
             for finding in rule.check(model, settings)]  # fmt: skip
    return sorted(found, key=lambda finding: (finding.t, RULE_NAMES.index(finding.rule)))


def counts(findings: Iterable[Finding]) -> Counter[str]:
    """How many findings each rule has (every rule listed, 0 included), in RULES order."""
    found = Counter(finding.rule for finding in findings)
    return Counter({name: found[name] for name in RULE_NAMES})


def by_task(findings: Iterable[Finding]) -> dict[int, list[Finding]]:
    """The findings that concern each task (a task's glyph in the tasks table)."""
    out: dict[int, list[Finding]] = {}
    for finding in findings:
        for task in finding.tasks:
            out.setdefault(task, []).append(finding)
    return out


__all__ = [
    "ERROR", "RULES", "RULE_NAMES", "WARNING", "Finding", "Rule", "Settings", "by_task",
    "counts", "diagnose",
]  # fmt: skip
